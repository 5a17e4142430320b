package main

import (
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/llm/llmtest"
)

// TestEvalTimeoutFlag: --timeout bounds each attempt and the provider's
// max_attempts from alignhost.toml bounds the retries, so a hanging
// endpoint costs each trace two short attempts, reported as TIMEOUT.
func TestEvalTimeoutFlag(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return llmtest.Hang() }))
	c := evalCLI(t, srv)
	config := c.write("alignhost.toml", `
[providers.openai]
timeout = "1h"
max_attempts = 2
base_delay = "1ms"
max_delay = "1ms"
`)
	out, _, _ := c.run("--config", config, "eval", "--judge", "helpful", "--timeout", "20ms") // every judgement fails: exit 1
	if !strings.Contains(out, "TIMEOUT 9") {
		t.Fatalf("summary lacks TIMEOUT 9:\n%s", out)
	}
	// Two attempts for each of the 9 traces: one retry each, as the client
	// counts them. The server may see fewer requests on a loaded machine
	// (an attempt can time out before the server reads it), never more.
	if !strings.Contains(out, "0 cached, 9 retries") {
		t.Errorf("summary lacks 9 retries (2 attempts for each of 9 traces):\n%s", out)
	}
	if got := len(srv.ChatRequests()); got > 18 {
		t.Errorf("%d requests, want at most 18 (2 attempts for each of 9 traces)", got)
	}
	c.fail(exitUsage, "eval", "--judge", "helpful", "--timeout", "-1s")
}

// TestEvalQueryCredentialAndRejectedKey: a credential in OPENAI_BASE_URL's
// query is shown nowhere, -v included; a rejected key stops the run with
// one line after at most the requests in flight.
func TestEvalQueryCredentialAndRejectedKey(t *testing.T) {
	const secret = "gw-cli-SECRET-0b7d3e"
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		return llmtest.Error(500, "gateway http://gw/v1?api-key="+secret+" failed")
	}))
	c := evalCLI(t, srv)
	c.env["OPENAI_BASE_URL"] = srv.BaseURL() + "?api-key=" + secret
	config := c.write("alignhost.toml", "[providers.openai]\nmax_attempts = 1\n")
	out, errOut, _ := c.run("--config", config, "-v", "eval", "--judge", "helpful", "--concurrency", "2")
	if len(srv.ChatRequests()) == 0 || srv.ChatRequests()[0].Query.Get("api-key") != secret {
		t.Fatalf("the query did not reach the endpoint:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "llm call failed") || !strings.Contains(out+errOut, "REDACTED") {
		t.Fatalf("-v did not log the failures with the provider's message:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, secret[:10]) {
		t.Fatalf("the query credential leaked:\nstdout: %s\nstderr: %s", out, errOut)
	}

	refusing := llmtest.NewServer(t, llmtest.WithAPIKey("another-key"))
	c.env["OPENAI_BASE_URL"] = refusing.BaseURL()
	errOut = c.fail(exitFailure, "eval", "--judge", "helpful", "--concurrency", "2")
	if n := len(refusing.ChatRequests()); n > 2 {
		t.Errorf("%d requests to an endpoint refusing the key, want at most 2", n)
	}
	if !strings.Contains(errOut, "status 401") || !strings.Contains(errOut, "OPENAI_API_KEY") || len(lines(errOut)) != 1 {
		t.Errorf("stderr %q: want one line with the refusal and the variable named", errOut)
	}
}
