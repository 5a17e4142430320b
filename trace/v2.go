package trace

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// MLflow 2 wrote traces in a "V2" dict that MLflow 3 still reads. This file
// converts it to V3 the way MLflow's TraceInfoV2.to_v3 and Span.from_dict
// do. A converted trace is written back as V3, so only V3 round-trips.
//
//	info: request_id → trace_id, experiment_id → trace_location,
//	      timestamp_ms → request_time, execution_time_ms →
//	      execution_duration_ms, status → state, request_metadata →
//	      trace_metadata; tags and assessments are kept.
//	data: request/response → info.request_preview/response_preview.
//	span: context.span_id/trace_id (hex) → span_id/trace_id (base64),
//	      parent_id → parent_span_id, start_time/end_time →
//	      *_unix_nano, status_code/status_message → status,
//	      events[].timestamp → time_unix_nano.

// isV2Info reports whether a trace info object is in the V2 form: it has a
// request_id and no trace_id.
func isV2Info(raw json.RawMessage) (bool, error) {
	if err := wantKind(raw, '{'); err != nil {
		return false, err
	}
	keys, err := splitObject(raw)
	if err != nil {
		return false, err
	}
	_, requestID := keys["request_id"]
	_, traceID := keys["trace_id"]
	return requestID && !traceID, nil
}

// decodeV2 reads a V2 trace info into its V3 form.
func (i *Info) decodeV2(data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	var (
		out          Info
		experimentID string
		timestampMS  int64
		status       string
	)
	decodeField(d, "request_id", &out.TraceID)
	decodeField(d, "client_request_id", &out.ClientRequestID)
	decodeField(d, "experiment_id", &experimentID)
	decodeInt(d, "timestamp_ms", &timestampMS)
	decodeIntPtr(d, "execution_time_ms", &out.ExecutionDurationMS)
	decodeField(d, "status", &status)
	decodeField(d, "request_metadata", &out.Metadata)
	decodeField(d, "tags", &out.Tags)
	decodeList(d, "assessments", &out.Assessments, (*Assessment).decodeValid)
	// The converted info is new V3 data: it is written with V3 defaults,
	// not in the spelling of the V2 keys.
	out.Extra, _, err = d.finish()
	if err != nil {
		return err
	}
	if experimentID != "" {
		out.Location = &Location{
			Type:             LocationExperiment,
			MLflowExperiment: &ExperimentLocation{ExperimentID: experimentID},
		}
	}
	if timestampMS != 0 {
		out.RequestTime = TimestampFromMillis(timestampMS)
	}
	out.State = v2State(status)
	*i = out
	return nil
}

// adoptV2Data moves the V2 data.request and data.response into the info's
// previews and marks the data as converted.
func (t *Trace) adoptV2Data() {
	preview := func(key string) string {
		raw, ok := t.Data.Extra[key]
		if !ok {
			return ""
		}
		delete(t.Data.Extra, key)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		if string(raw) == "null" {
			return ""
		}
		return string(raw)
	}
	if p := preview("request"); p != "" && t.Info.RequestPreview == "" {
		t.Info.RequestPreview = p
	}
	if p := preview("response"); p != "" && t.Info.ResponsePreview == "" {
		t.Info.ResponsePreview = p
	}
	if len(t.Data.Extra) == 0 {
		t.Data.Extra = nil
	}
	t.Data.lay = layout{}
}

// v2State maps a V2 trace status to a V3 state.
func v2State(status string) State {
	switch status {
	case "":
		return ""
	case "UNSPECIFIED", "TRACE_STATUS_UNSPECIFIED":
		return StateUnspecified
	}
	return State(status)
}

// decodeV2 reads a V2 span into its V3 form. d holds the span's keys.
func (s *Span) decodeV2(d *objectDecoder) error {
	var (
		out          Span
		context      map[string]json.RawMessage
		parent       *string
		code, status string
	)
	decodeField(d, "name", &out.Name)
	decodeField(d, "context", &context)
	decodeField(d, "parent_id", &parent)
	decodeInt(d, "start_time", &out.StartTimeUnixNano)
	decodeInt(d, "end_time", &out.EndTimeUnixNano)
	decodeField(d, "status_code", &code)
	decodeField(d, "status_message", &status)
	decodeList(d, "events", &out.Events, decodeV2Event)
	decodeField(d, "attributes", &out.Attributes)
	extra, _, err := d.finish()
	if err != nil {
		return err
	}
	out.Extra = extra
	var spanID, traceID string
	if err := decodeOptionalString(context, "span_id", &spanID); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if err := decodeOptionalString(context, "trace_id", &traceID); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if out.SpanID, err = hexToBase64(spanID, 8); err != nil {
		return fmt.Errorf("context: span_id: %w", err)
	}
	if out.TraceID, err = hexToBase64(traceID, 16); err != nil {
		return fmt.Errorf("context: trace_id: %w", err)
	}
	if parent != nil && *parent != "" {
		p, err := hexToBase64(*parent, 8)
		if err != nil {
			return fmt.Errorf("parent_id: %w", err)
		}
		out.ParentSpanID = &p
	}
	out.Status = Status{Code: v2StatusCode(code), Message: status}
	if out.Events == nil {
		out.Events = []Event{}
	}
	*s = out
	return nil
}

// decodeV2Event reads a span event that may use V2's "timestamp" key.
func decodeV2Event(ev *Event, data []byte) error {
	d, err := validObjectDecoder(data)
	if err != nil {
		return err
	}
	if !d.has("timestamp") || d.has("time_unix_nano") {
		return ev.decodeValid(data)
	}
	var out Event
	decodeField(d, "name", &out.Name)
	decodeInt(d, "timestamp", &out.TimeUnixNano)
	decodeField(d, "attributes", &out.Attributes)
	out.Extra, _, err = d.finish()
	if err != nil {
		return err
	}
	*ev = out
	return nil
}

// decodeOptionalString decodes m[key] into dst when present.
func decodeOptionalString(m map[string]json.RawMessage, key string, dst *string) error {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: %w", key, typeError(err))
	}
	return nil
}

// v2StatusCode maps a V2 span status code to the OTLP form.
func v2StatusCode(code string) string {
	switch code {
	case "OK":
		return StatusOK
	case "ERROR":
		return StatusError
	case "UNSET", "":
		return StatusUnset
	}
	return code
}

// hexToBase64 converts a V2 hex identifier ("0x" optional) of size bytes to
// the base64 form MLflow 3 uses. An empty id stays empty.
func hexToBase64(id string, size int) (string, error) {
	if id == "" {
		return "", nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(id, "0x"), "0X")
	if len(h)%2 == 1 {
		h = "0" + h
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) > size {
		return "", fmt.Errorf("%q is not a %d-byte hex id", id, size)
	}
	padded := make([]byte, size)
	copy(padded[size-len(b):], b)
	return base64.StdEncoding.EncodeToString(padded), nil
}
