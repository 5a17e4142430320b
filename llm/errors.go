package llm

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors a caller may branch on with errors.Is.
var (
	// ErrInvalidModelURI: the model URI is not of the form <provider>:/<model>.
	ErrInvalidModelURI = errors.New("invalid model uri")
	// ErrUnknownProvider: the URI names a provider that is neither built in
	// nor declared in the configuration.
	ErrUnknownProvider = errors.New("unknown provider")
	// ErrMissingCredentials: an environment variable the provider needs (a
	// key, a host) is empty.
	ErrMissingCredentials = errors.New("missing credentials")
	// ErrInvalidRequest: the request cannot be sent as given (no messages, an
	// unknown or ill-typed parameter, an empty input).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnauthorized: the endpoint refused the credentials (HTTP 401 or
	// 403). Every other request to it would be refused too: a caller
	// running many should stop. An [*APIError] with either status matches
	// it.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrPromptTooLarge: the prompt is over the model's prompt budget
	// ([Provider.MaxPromptTokens]); nothing was sent. See
	// [*PromptTooLargeError].
	ErrPromptTooLarge = errors.New("prompt too large")
)

// APIError is the final error of a model call that failed after retrying (or
// that must not be retried): the provider refused the request, or no answer
// could be had. Its message is one readable line and never contains a
// credential.
type APIError struct {
	// Model is the model URI that was called.
	Model string
	// Status is the HTTP status of the last attempt, 0 when there was no HTTP
	// answer (timeout, connection error).
	Status int
	// Attempts is how many times the request was sent.
	Attempts int
	// Message describes the last failure.
	Message string

	// cause is the transport error of the last attempt when there was no
	// HTTP answer; its text is produced locally and holds no credential.
	cause error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s: ", e.Model)
	if e.Status != 0 {
		fmt.Fprintf(&b, "status %d", e.Status)
	} else {
		b.WriteString("request failed")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the transport error of the last attempt (for example
// context.DeadlineExceeded for a timeout), or nil when the provider
// answered with an error status.
func (e *APIError) Unwrap() error { return e.cause }

// Is makes an APIError with status 401 or 403 match [ErrUnauthorized].
func (e *APIError) Is(target error) bool { return target == ErrUnauthorized && unauthorized(e.Status) }

func unauthorized(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

// Temporary reports whether the failure was transient (rate limit, server
// error, timeout, connection error): trying again later may succeed.
func (e *APIError) Temporary() bool { return e.Status == 0 || retryableStatus(e.Status) }

// ReplayMissError is returned in replay mode for a request the recording
// does not hold.
type ReplayMissError struct {
	// Model is the model URI of the request.
	Model string
	// Digest is a short prefix of the request's key.
	Digest string
	// File is the recording's path, if it has one.
	File string
}

func (e *ReplayMissError) Error() string {
	where := "the recording"
	if e.File != "" {
		where = e.File
	}
	return fmt.Sprintf("replay: %s holds no answer for model %s request %s (record it again with --record)", where, e.Model, e.Digest)
}
