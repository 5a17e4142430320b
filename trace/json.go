package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// isZero reports whether v is its type's zero value: the test for "absent"
// used when encoding.
func isZero(v any) bool {
	return v == nil || reflect.ValueOf(v).IsZero()
}

// MarshalJSON writes the trace as MLflow's Trace.to_dict does:
// {"info": …, "data": …}.
func (t Trace) MarshalJSON() ([]byte, error) { return marshalObject(t) }

func (t Trace) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &layout{})
	e.write("info", t.Info)
	e.write("data", t.Data)
	e.extra(t.Extra)
	return e.close()
}

// UnmarshalJSON reads an MLflow trace: schema V3 (info.trace_id), or the
// legacy V2 dict (info.request_id, spans with a context), which is converted
// to V3. Both "info" and "data" are required, as in MLflow.
func (t *Trace) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, t.decodeValid)
}

func (t *Trace) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	return t.decode(d)
}

// decode reads a trace from its fields.
func (t *Trace) decode(d *objectDecoder) error {
	infoRaw, ok := d.take("info")
	if !ok {
		return errors.New(`missing "info"`)
	}
	dataRaw, ok := d.take("data")
	if !ok {
		return errors.New(`missing "data"`)
	}
	var out Trace
	v2, err := isV2Info(infoRaw)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if v2 {
		err = out.Info.decodeV2(infoRaw)
	} else {
		err = out.Info.decodeValid(infoRaw)
	}
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if err := out.Data.decodeValid(dataRaw); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if v2 {
		out.adoptV2Data()
	}
	out.Extra, _, err = d.finish()
	if err != nil {
		return err
	}
	*t = out
	return nil
}

// MarshalJSON writes the trace info with MLflow's V3 keys.
func (i Info) MarshalJSON() ([]byte, error) { return marshalObject(i) }

func (i Info) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &i.lay)
	e.field("trace_id", i.TraceID, i.TraceID == "", "")
	e.field("client_request_id", i.ClientRequestID, i.ClientRequestID == "", nil)
	e.field("trace_location", i.Location, i.Location == nil, nil)
	e.field("request_preview", i.RequestPreview, i.RequestPreview == "", nil)
	e.field("response_preview", i.ResponsePreview, i.ResponsePreview == "", nil)
	e.field("request_time", i.RequestTime, isZero(i.RequestTime), nil)
	e.intPtr("execution_duration_ms", i.ExecutionDurationMS)
	e.field("state", i.State, i.State == "", nil)
	e.field("trace_metadata", i.Metadata, i.Metadata == nil, nil)
	e.field("tags", i.Tags, i.Tags == nil, nil)
	e.field("assessments", i.Assessments, i.Assessments == nil, nil)
	e.extra(i.Extra)
	return e.close()
}

// UnmarshalJSON reads a V3 trace info.
func (i *Info) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, i.decodeValid)
}

func (i *Info) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Info
	decodeField(d, "trace_id", &out.TraceID)
	decodeField(d, "client_request_id", &out.ClientRequestID)
	decodeField(d, "trace_location", &out.Location)
	decodeField(d, "request_preview", &out.RequestPreview)
	decodeField(d, "response_preview", &out.ResponsePreview)
	decodeField(d, "request_time", &out.RequestTime)
	decodeIntPtr(d, "execution_duration_ms", &out.ExecutionDurationMS)
	decodeField(d, "state", &out.State)
	decodeField(d, "trace_metadata", &out.Metadata)
	decodeField(d, "tags", &out.Tags)
	decodeList(d, "assessments", &out.Assessments, (*Assessment).decodeValid)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*i = out
	return nil
}

// MarshalJSON writes the location.
func (l Location) MarshalJSON() ([]byte, error) { return marshalObject(l) }

func (l Location) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &l.lay)
	e.field("type", l.Type, l.Type == "", "")
	e.field("mlflow_experiment", l.MLflowExperiment, l.MLflowExperiment == nil, nil)
	e.extra(l.Extra)
	return e.close()
}

// UnmarshalJSON reads a location; kinds other than MLFLOW_EXPERIMENT keep
// their details in Extra.
func (l *Location) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, l.decodeValid)
}

func (l *Location) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Location
	decodeField(d, "type", &out.Type)
	decodeField(d, "mlflow_experiment", &out.MLflowExperiment)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*l = out
	return nil
}

// MarshalJSON writes the experiment location.
func (l ExperimentLocation) MarshalJSON() ([]byte, error) { return marshalObject(l) }

func (l ExperimentLocation) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &l.lay)
	e.field("experiment_id", l.ExperimentID, l.ExperimentID == "", "")
	e.extra(l.Extra)
	return e.close()
}

// UnmarshalJSON reads an experiment location.
func (l *ExperimentLocation) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, l.decodeValid)
}

func (l *ExperimentLocation) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out ExperimentLocation
	decodeField(d, "experiment_id", &out.ExperimentID)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*l = out
	return nil
}

// MarshalJSON writes the spans.
func (t Data) MarshalJSON() ([]byte, error) { return marshalObject(t) }

func (t Data) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &t.lay)
	e.field("spans", t.Spans, t.Spans == nil, []Span{})
	e.extra(t.Extra)
	return e.close()
}

// UnmarshalJSON reads the spans; V2 spans are converted to V3.
func (t *Data) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, t.decodeValid)
}

func (t *Data) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Data
	decodeList(d, "spans", &out.Spans, (*Span).decodeValid)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*t = out
	return nil
}

// MarshalJSON writes the span in MLflow 3's form; parent_span_id is null
// for a root span.
func (s Span) MarshalJSON() ([]byte, error) { return marshalObject(s) }

func (s Span) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &s.lay)
	e.field("name", s.Name, s.Name == "", "")
	e.field("trace_id", s.TraceID, s.TraceID == "", nil)
	e.field("span_id", s.SpanID, s.SpanID == "", "")
	e.field("parent_span_id", s.ParentSpanID, s.ParentSpanID == nil, json.RawMessage("null"))
	e.int("start_time_unix_nano", s.StartTimeUnixNano, true)
	e.int("end_time_unix_nano", s.EndTimeUnixNano, true)
	e.field("events", s.Events, s.Events == nil, []Event{})
	e.field("status", s.Status, isZero(s.Status), s.Status)
	e.field("attributes", s.Attributes, s.Attributes == nil, map[string]json.RawMessage{})
	e.extra(s.Extra)
	return e.close()
}

// UnmarshalJSON reads a span in MLflow 3's form, or a legacy V2 span
// (context, parent_id, start_time, …), which is converted.
func (s *Span) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, s.decodeValid)
}

func (s *Span) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	if d.has("context") && !d.has("span_id") {
		return s.decodeV2(d)
	}
	var out Span
	decodeField(d, "name", &out.Name)
	decodeField(d, "trace_id", &out.TraceID)
	decodeField(d, "span_id", &out.SpanID)
	decodeField(d, "parent_span_id", &out.ParentSpanID)
	decodeInt(d, "start_time_unix_nano", &out.StartTimeUnixNano)
	decodeInt(d, "end_time_unix_nano", &out.EndTimeUnixNano)
	decodeList(d, "events", &out.Events, (*Event).decodeValid)
	decodeField(d, "status", &out.Status)
	decodeField(d, "attributes", &out.Attributes)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*s = out
	return nil
}

// MarshalJSON writes the event.
func (ev Event) MarshalJSON() ([]byte, error) { return marshalObject(ev) }

func (ev Event) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &ev.lay)
	e.field("name", ev.Name, ev.Name == "", "")
	e.int("time_unix_nano", ev.TimeUnixNano, true)
	e.field("attributes", ev.Attributes, ev.Attributes == nil, nil)
	e.extra(ev.Extra)
	return e.close()
}

// UnmarshalJSON reads an event.
func (ev *Event) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, ev.decodeValid)
}

func (ev *Event) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Event
	decodeField(d, "name", &out.Name)
	decodeInt(d, "time_unix_nano", &out.TimeUnixNano)
	decodeField(d, "attributes", &out.Attributes)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*ev = out
	return nil
}

// MarshalJSON writes the status; both keys are always present.
func (st Status) MarshalJSON() ([]byte, error) { return marshalObject(st) }

func (st Status) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &st.lay)
	e.field("code", st.Code, st.Code == "", "")
	e.field("message", st.Message, st.Message == "", "")
	e.extra(st.Extra)
	return e.close()
}

// UnmarshalJSON reads a status.
func (st *Status) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, st.decodeValid)
}

func (st *Status) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Status
	decodeField(d, "code", &out.Code)
	decodeField(d, "message", &out.Message)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*st = out
	return nil
}

// MarshalJSON writes the assessment. Valid is written only when set.
func (a Assessment) MarshalJSON() ([]byte, error) { return marshalObject(a) }

func (a Assessment) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &a.lay)
	e.field("assessment_id", a.ID, a.ID == "", nil)
	e.field("assessment_name", a.Name, a.Name == "", "")
	e.field("trace_id", a.TraceID, a.TraceID == "", nil)
	e.field("span_id", a.SpanID, a.SpanID == "", nil)
	e.field("source", a.Source, isZero(a.Source), a.Source)
	e.field("create_time", a.CreateTime, isZero(a.CreateTime), nil)
	e.field("last_update_time", a.LastUpdateTime, isZero(a.LastUpdateTime), nil)
	e.field("feedback", a.Feedback, a.Feedback == nil, nil)
	e.field("expectation", a.Expectation, a.Expectation == nil, nil)
	e.field("rationale", a.Rationale, a.Rationale == "", nil)
	e.field("metadata", a.Metadata, a.Metadata == nil, nil)
	e.field("overrides", a.Overrides, a.Overrides == "", nil)
	e.field("valid", a.Valid, a.Valid == nil, nil)
	e.extra(a.Extra)
	return e.close()
}

// UnmarshalJSON reads an assessment.
func (a *Assessment) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, a.decodeValid)
}

func (a *Assessment) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Assessment
	decodeField(d, "assessment_id", &out.ID)
	decodeField(d, "assessment_name", &out.Name)
	decodeField(d, "trace_id", &out.TraceID)
	decodeField(d, "span_id", &out.SpanID)
	decodeField(d, "source", &out.Source)
	decodeField(d, "create_time", &out.CreateTime)
	decodeField(d, "last_update_time", &out.LastUpdateTime)
	decodeField(d, "feedback", &out.Feedback)
	decodeField(d, "expectation", &out.Expectation)
	decodeField(d, "rationale", &out.Rationale)
	decodeField(d, "metadata", &out.Metadata)
	decodeField(d, "overrides", &out.Overrides)
	decodeField(d, "valid", &out.Valid)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*a = out
	return nil
}

// MarshalJSON writes the source.
func (s Source) MarshalJSON() ([]byte, error) { return marshalObject(s) }

func (s Source) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &s.lay)
	e.field("source_type", s.Type, s.Type == "", "")
	e.field("source_id", s.ID, s.ID == "", nil)
	e.extra(s.Extra)
	return e.close()
}

// UnmarshalJSON reads a source.
func (s *Source) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, s.decodeValid)
}

func (s *Source) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Source
	decodeField(d, "source_type", &out.Type)
	decodeField(d, "source_id", &out.ID)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*s = out
	return nil
}

// MarshalJSON writes the feedback; Value is written verbatim, so null, a
// list or an object come back as they were read.
func (f Feedback) MarshalJSON() ([]byte, error) { return marshalObject(f) }

func (f Feedback) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &f.lay)
	if f.Value != nil {
		e.writeRaw("value", f.Value)
	}
	e.field("error", f.Error, f.Error == nil, nil)
	e.extra(f.Extra)
	return e.close()
}

// UnmarshalJSON reads a feedback.
func (f *Feedback) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, f.decodeValid)
}

func (f *Feedback) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Feedback
	if raw, ok := d.take("value"); ok {
		out.Value = append(json.RawMessage(nil), raw...)
	}
	decodeField(d, "error", &out.Error)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*f = out
	return nil
}

// MarshalJSON writes the feedback error.
func (fe FeedbackError) MarshalJSON() ([]byte, error) { return marshalObject(fe) }

func (fe FeedbackError) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &fe.lay)
	e.field("error_code", fe.Code, fe.Code == "", nil)
	e.field("error_message", fe.Message, fe.Message == "", nil)
	e.field("stack_trace", fe.StackTrace, fe.StackTrace == "", nil)
	e.extra(fe.Extra)
	return e.close()
}

// UnmarshalJSON reads a feedback error.
func (fe *FeedbackError) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, fe.decodeValid)
}

func (fe *FeedbackError) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out FeedbackError
	decodeField(d, "error_code", &out.Code)
	decodeField(d, "error_message", &out.Message)
	decodeField(d, "stack_trace", &out.StackTrace)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*fe = out
	return nil
}

// MarshalJSON writes the expectation; whichever of value and
// serialized_value was read is written back.
func (x Expectation) MarshalJSON() ([]byte, error) { return marshalObject(x) }

func (x Expectation) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &x.lay)
	if x.Value != nil {
		e.writeRaw("value", x.Value)
	}
	e.field("serialized_value", x.SerializedValue, x.SerializedValue == nil, nil)
	e.extra(x.Extra)
	return e.close()
}

// UnmarshalJSON reads an expectation.
func (x *Expectation) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, x.decodeValid)
}

func (x *Expectation) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out Expectation
	if raw, ok := d.take("value"); ok {
		out.Value = append(json.RawMessage(nil), raw...)
	}
	decodeField(d, "serialized_value", &out.SerializedValue)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*x = out
	return nil
}

// MarshalJSON writes the serialized value.
func (v SerializedValue) MarshalJSON() ([]byte, error) { return marshalObject(v) }

func (v SerializedValue) appendJSON(buf *bytes.Buffer) error {
	e := encodeObject(buf, &v.lay)
	e.field("serialization_format", v.Format, v.Format == "", "")
	e.field("value", v.Value, v.Value == "", "")
	e.extra(v.Extra)
	return e.close()
}

// UnmarshalJSON reads a serialized value.
func (v *SerializedValue) UnmarshalJSON(data []byte) error {
	return unmarshalValid(data, v.decodeValid)
}

func (v *SerializedValue) decodeValid(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var out SerializedValue
	decodeField(d, "serialization_format", &out.Format)
	decodeField(d, "value", &out.Value)
	out.Extra, out.lay, err = d.finish()
	if err != nil {
		return err
	}
	*v = out
	return nil
}
