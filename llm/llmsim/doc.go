// Package llmsim is the simulated model behind `alignhost demo`: a small,
// deterministic stand-in for an OpenAI-compatible endpoint, so that the
// whole judge-alignment workflow runs offline. It replaces the model and
// nothing else: the demo's requests go through the real model layer
// (go-openai over loopback HTTP, structured output, retries, cache), the
// judge engine with retrieval, and MemAlign through the host's chat and
// embed capabilities. docs/simulation.md describes the behaviour for users;
// this comment is the reference.
//
// # Serving
//
// [New] returns a [Model]; [Model.Serve] listens on 127.0.0.1 at a free
// port, and [Server.Getenv] hands a client OPENAI_BASE_URL and
// OPENAI_API_KEY ([APIKey]) for it. [Model.Handler] is the same API for a
// server of one's own, and [Chat] and [Embed] are the two answering
// functions, usable as llmtest responders. The HTTP layer is llmtest's.
//
// # What the model sees
//
// Only the messages, as a real model does. It never sees trace IDs, tags
// or the human labels of the traces it judges; it learns the team's
// policies only from what a prompt says: the guidelines block and the
// rationales of the retrieved examples (judge.Judge.Request), and, when
// distilling, the records' rationales.
//
// # Judge requests
//
// A chat request whose response_format is the JSON schema named
// judge.SchemaName, with "yes" and "no" as results, is a judgement. The
// answer is {"rationale": …, "result": "yes"|"no"}, decided in this order:
//
//  1. Policies. A catalogue of the demo company's support policies
//     (cmd/alignhost/demodata/README.md): refunds, single sign-on, account
//     security, outages, plan figures, and tone. Each has trigger words; a
//     policy is taught when a guideline or an example's rationale holds
//     them (refund with monthly/annual/30; SSO, SCIM, SAML or Okta with
//     Enterprise; 2FA, password or login with never/mandatory/must; status
//     page or on-call; a plan, a number and a limit word; blunt, terse,
//     curt or "short but"). Each taught policy but tone runs a detector on
//     the question and the reply: a refund promised on monthly billing or
//     prorated; SSO set up for a Free or Team customer without saying it
//     needs Enterprise; 2FA turned off or relaxed, a login shared, a
//     password in a script, a shared computer trusted; an incident
//     (5xx, many users failing, files missing outside Trash) answered
//     without the status page or without an on-call escalation; a plan
//     figure that differs from the one the prompt states. The first
//     breach is a "no" whose rationale names the rule and quotes the
//     reply. The plan-figure policy knows only the figures the prompt
//     states ("Team's API limit is 600 requests per minute"): a figure
//     no guideline or rationale gives is never checked.
//  2. Imitation. An example whose question and reply each share at least
//     60% of their content words (Jaccard) with the new ones is a
//     near-duplicate, and its expert value is given with the expert's
//     rationale, as a model imitating a close example would.
//  3. The generic rubric of an uninformed judge: a reply that shares no
//     content word with the question is off-topic ("no"); lecturing or
//     belittling phrases are rude ("no"); sharing a login or putting a
//     password in a script is unsafe ("no"); a reply under 40 words with no
//     courtesy at all is curt ("no"), unless tone is taught; anything
//     else is "yes".
//
// # Distillation requests
//
// A request whose schema is named [DistillSchemaName] is MemAlign's
// distillation (plugins/memalign). The model groups the records by the
// policy their rationales teach and answers one guideline per policy, in
// catalogue order, citing every record that taught it; a policy an existing
// guideline already teaches is skipped, and records that teach no policy
// give nothing. Each guideline is a fixed sentence stating the rule, except
// the plan-figure one, which lists the figures its sources state. Every
// guideline teaches its own policy back to the judge.
//
// # Embeddings
//
// llmtest.Vector of each input, with the requested dimensions (up to
// [MaxDimensions]): deterministic, unit length, similar for texts that
// share words.
//
// # Anything else
//
// A 400 that says what the simulation answers. Its wording avoids the
// phrases by which package llm recognises a provider without structured
// output, so a client reports it rather than retrying without the schema.
//
// # Determinism
//
// Answers are pure functions of the request: no randomness, no clock, no
// state. The same workflow gives byte-identical judges and figures.
package llmsim
