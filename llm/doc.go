// Package llm is alignhost's model layer: it turns a model URI into calls to
// an OpenAI-compatible endpoint, and makes those calls safe to run by the
// thousand.
//
// # Model
//
// A model is named by a URI as MLflow writes it, "<provider>:/<model>"
// ([ModelURI], [ParseModelURI]): openai:/gpt-4.1-mini, azure:/<deployment>,
// databricks:/<endpoint> or endpoints:/<endpoint>, ollama:/<model>, or
// <name>:/<model> for any OpenAI-compatible server declared as a [Provider].
//
// The provider part selects an endpoint: a base URL, an API flavour (OpenAI
// or Azure paths), a credential read from the environment through an
// injectable Getenv, and the endpoint's limits (concurrency, requests and
// tokens per minute). Each endpoint has one go-openai client, built on first
// use and shared by every model it serves. The model part is sent as the
// request's model (the Azure deployment goes in the path).
//
// A [Client] holds the endpoints and everything that wraps a call:
//
//   - [Client.Chat] sends messages, optionally with a JSON schema as
//     structured output; a provider that rejects structured output is asked
//     again with the schema in the prompt, and remembered.
//   - [Client.Embed] embeds texts in order-keeping batches.
//   - Each call is retried with backoff on transient failures ([RetryPolicy],
//     per endpoint through [Provider]), each attempt bounded by a timeout and
//     the whole call by a deadline ([WithDeadline]); it waits for its
//     endpoint's limits, and a 429 holds back every request to the endpoint
//     until its Retry-After. It ends in a typed [*APIError]; a 401 or 403
//     matches [ErrUnauthorized].
//   - A prompt over the model's budget ([Provider.MaxPromptTokens], else the
//     [ContextWindow] of its family, else [DefaultMaxPromptTokens]) is not
//     sent: [*PromptTooLargeError].
//   - A [Cache] (the store implements it) answers repeated requests, caching
//     only answers the caller accepts (ChatRequest.Accept); a
//     [Recorder] saves exchanges to a JSONL file or answers only from one; a
//     [Meter] totals calls and tokens, and a [PriceTable] prices them.
//
// # Secrets
//
// API keys are read from the environment when an endpoint is built and go
// only into the Authorization (or Azure api-key) header. They are not part of
// cache keys or recordings, are never logged, and are redacted from error
// messages even when a provider echoes them back. A base URL's query (some
// gateways take the key there) is added to every request and its values are
// redacted alike; every URL in a message has its query values and password
// hidden.
//
// This package must not import the store, the CLI or the judge evaluator:
// they depend on it, not the reverse. Package llmtest is a fake server for
// testing code that uses it.
package llm
