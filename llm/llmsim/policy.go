package llmsim

import (
	"fmt"
	"regexp"
	"strings"
)

// A policy is one rule of Northwind Cloud's support leads (the fact sheet
// of cmd/alignhost/demodata) that the simulated judge applies only once a
// prompt has taught it.
type policy struct {
	// name identifies the policy in tests and docs.
	name string
	// guideline writes the sentence distillation proposes for the policy,
	// from the rationales that taught it. The sentence itself teaches the
	// policy.
	guideline func(sources []string) string
	// taught reports whether a text — a guideline, or the rationale of an
	// example shown in the prompt — teaches the policy.
	taught func(text string, ws wordSet) bool
	// breach returns, for a reply that breaks the policy, the rationale of
	// the "no"; "" when the reply keeps to it. known holds the figures the
	// prompt states (only the limits policy uses them). Nil for a policy
	// that only changes the generic rubric (tone).
	breach func(m *material, known figures) string
}

// Policy names.
const (
	policyRefunds  = "refunds"
	policySSO      = "sso"
	policySecurity = "security"
	policyOutage   = "outage"
	policyLimits   = "limits"
	policyTone     = "tone"
)

// catalogue lists the policies in the order they are checked and
// distilled.
func catalogue() []policy {
	return []policy{
		{
			name:      policyRefunds,
			guideline: fixed("Refunds are only given on annual plans within 30 days of the start of the term; a reply that promises or issues a refund on a monthly plan, or a prorated or partial refund, is not acceptable, and should explain the policy and offer to cancel or downgrade instead."),
			taught: func(_ string, ws wordSet) bool {
				return ws.any("refund", "refunds", "refunded", "refundable", "prorated") &&
					ws.any("monthly", "annual", "30", "window", "prorated")
			},
			breach: ignoreFigures(refundBreach),
		},
		{
			name:      policySSO,
			guideline: fixed("Single sign-on (SSO with Okta or Azure AD, SAML) and SCIM provisioning are Enterprise-only; a reply that walks a Free or Team workspace through setting them up fails, and should say they need Enterprise and point to sales."),
			taught: func(text string, ws wordSet) bool {
				return (ws.any("sso", "scim", "saml", "okta") || containsAny(text, "single sign-on", "azure ad")) && ws["enterprise"]
			},
			breach: ignoreFigures(ssoBreach),
		},
		{
			name:      policySecurity,
			guideline: fixed("2FA is mandatory for admins and is never turned off or relaxed, accounts and passwords are never shared, and scripts use API tokens rather than passwords; a reply that suggests otherwise fails."),
			taught: func(text string, ws wordSet) bool {
				return (ws.any("2fa", "password", "passwords", "login", "credentials") || containsAny(text, "two-factor", "api token")) &&
					(ws.any("never", "mandatory", "must") || containsAny(text, "stays on", "can't be", "cannot be", "has to"))
			},
			breach: ignoreFigures(securityBreach),
		},
		{
			name:      policyOutage,
			guideline: fixed("A report that looks like an outage or data loss (several users or a whole office affected, 5xx errors, sync stalled for everyone, files missing outside Trash) must get the status page link and an escalation to on-call engineering in the first reply; troubleshooting tips alone fail."),
			taught: func(text string, ws wordSet) bool {
				return containsAny(text, "status page", "status link", "status.northwind", "on-call")
			},
			breach: ignoreFigures(outageBreach),
		},
		{
			name:      policyLimits,
			guideline: limitsGuideline,
			taught: func(text string, ws wordSet) bool {
				return ws.any("free", "team", "enterprise") && strings.ContainsAny(text, "0123456789") &&
					(ws.any("limit", "limits", "price", "pricing", "days", "day", "minute", "requests", "recovery") || strings.Contains(text, "$"))
			},
			breach: limitsBreach,
		},
		{
			name:      policyTone,
			guideline: fixed("A blunt or short reply is fine to send when it is correct and follows policy; only a rude, condescending or off-topic reply fails on tone."),
			taught: func(text string, ws wordSet) bool {
				return ws.any("blunt", "terse", "curt", "pleasantries", "unceremonious") ||
					containsAny(text, "short but", "short and", "short reply", "short answer")
			},
		},
	}
}

// fixed is the guideline of a policy whose sentence does not depend on
// its sources.
func fixed(sentence string) func([]string) string {
	return func([]string) string { return sentence }
}

// ignoreFigures adapts the breach check of a policy that needs no figures.
func ignoreFigures(breach func(*material) string) func(*material, figures) string {
	return func(m *material, _ figures) string { return breach(m) }
}

// taughtPolicies returns the names of the policies that any of texts
// teaches.
func taughtPolicies(texts []string) map[string]bool {
	out := map[string]bool{}
	for _, text := range texts {
		ws := newWordSet(text)
		for _, p := range catalogue() {
			if p.taught(text, ws) {
				out[p.name] = true
			}
		}
	}
	return out
}

// Refunds ---------------------------------------------------------------

// refundWords mark a sentence that talks about giving money back.
var refundWords = regexp.MustCompile(`(?i)\b(refund(ed|s)?|money back|credit (it|them|those|these)[\w ]{0,20} back|reimburse\w*)\b`)

var partialRefund = regexp.MustCompile(`(?i)\b(prorated|pro rata|partial)\s+(refund|credit)`)

func refundBreach(m *material) string {
	monthly := containsAny(m.question, "monthly", "per month", "month-to-month", "each month")
	for _, s := range sentences(m.answer) {
		if !refundWords.MatchString(s) || negated(s) {
			continue
		}
		switch {
		case partialRefund.MatchString(s):
			return fmt.Sprintf("The reply offers a prorated refund (%q). Refunds are only given on annual plans within 30 days of the start of the term, and then in full; removed seats and unused time are never refunded or prorated. It should explain that the change applies from the next billing date, so it is not ready to send.", quote(s, 140))
		case monthly:
			return fmt.Sprintf("The customer is on monthly billing, and the reply promises a refund (%q). Monthly plans are never refunded; refunds exist only on annual plans within 30 days of the start of the term. The reply should explain the policy and offer to cancel or downgrade instead, so it is not ready to send.", quote(s, 140))
		}
	}
	return ""
}

// Single sign-on ---------------------------------------------------------

var ssoWords = regexp.MustCompile(`(?i)\b(single sign-on|sso|saml|scim|identity provider|okta|azure ad|entra)\b`)

// enterprisePlan finds Enterprise named as a plan, not as in Azure's
// "Enterprise Application".
var enterprisePlan = regexp.MustCompile(`(?i)\benterprise(\s+(plan|feature|features|workspace|workspaces|only|tier|customers?|contract)\b|-only\b)|\b(on|to|with|our|the|an|need|needs|requires?)\s+enterprise\b`)

func ssoBreach(m *material) string {
	if m.plan != "Free" && m.plan != "Team" {
		return ""
	}
	loc := ssoWords.FindStringIndex(m.answer)
	if loc == nil || enterprisePlan.MatchString(m.answer) {
		return ""
	}
	s := sentenceAt(m.answer, loc[0])
	return fmt.Sprintf("The customer is on the %s plan, yet the reply walks them through single sign-on or provisioning (%q). SSO, SCIM and \"Require SSO\" are Enterprise-only; the reply should say so and point to sales, so it is not ready to send.", m.plan, quote(s, 140))
}

// sentenceAt returns the sentence of text that holds byte offset i.
func sentenceAt(text string, i int) string {
	pos := 0
	for _, s := range sentences(text) {
		j := strings.Index(text[pos:], s)
		if j < 0 {
			continue
		}
		start := pos + j
		if i < start+len(s) {
			return s
		}
		pos = start + len(s)
	}
	return text
}

// Account security -------------------------------------------------------

var (
	twoFactor    = regexp.MustCompile(`(?i)\b(2fa|two-factor|two factor|multi-factor|mfa)\b`)
	relax2FA     = regexp.MustCompile(`(?i)\b(turn(ed|ing|s)? (it |2fa |two-factor authentication )?off|disabl\w+|switch(ed|ing|es)? (it |2fa |two-factor authentication )?off|relax\w*|optional|leave (2fa|it) off|without (2fa|two-factor))\b`)
	shareLogin   = regexp.MustCompile(`(?i)\b(shar\w*|use|uses|using)\s+(\w+\s+){0,2}(login|logins|password|passwords|account|credentials)\b`)
	scriptSecret = regexp.MustCompile(`(?i)\b(environment variables?|env vars?|basic auth|in (the|your) (script|pipeline|ci)|hard-?code\w*)\b`)
	passwordWord = regexp.MustCompile(`(?i)\b(password|passwords|credentials)\b`)
	trustDevice  = regexp.MustCompile(`(?i)trust this (device|computer)`)
)

// credentialBreach finds the advice any careful reviewer rejects without
// knowing the company's rules: sharing a login, or putting a password in a
// script. It is part of the generic rubric.
func credentialBreach(m *material) string {
	for _, s := range sentences(m.answer) {
		if negated(s) {
			continue
		}
		if shareLogin.MatchString(s) && containsAny(s, "shar") {
			return fmt.Sprintf("The reply endorses sharing a login (%q). Sharing credentials is unsafe and leaves no record of who did what; a collaborator needs an account of their own. This is not ready to send.", quote(s, 140))
		}
		if passwordWord.MatchString(s) && scriptSecret.MatchString(s) {
			return fmt.Sprintf("The reply tells the customer to put an account password in a script or its configuration (%q). Automation should authenticate with a token made for it, not a person's password. This is not ready to send.", quote(s, 140))
		}
	}
	return ""
}

func securityBreach(m *material) string {
	if r := credentialBreach(m); r != "" {
		return strings.Replace(r, "This is not ready to send.", "Accounts and passwords are never shared, and scripts use personal API tokens, so it is not ready to send.", 1)
	}
	shared := containsAny(m.question, "shared pc", "shared computer", "shared machine", "shared device", "reception")
	for _, s := range sentences(m.answer) {
		if negated(s) {
			continue
		}
		if twoFactor.MatchString(s) && relax2FA.MatchString(s) {
			return fmt.Sprintf("The reply turns off or relaxes two-factor authentication (%q). 2FA is mandatory for admins and the workspace owner and is never disabled, by the customer or by support; a lost device goes through recovery codes, a reset by another admin, or identity verification. Not ready to send.", quote(s, 140))
		}
		if shared && trustDevice.MatchString(s) {
			return fmt.Sprintf("The reply suggests trusting a shared computer (%q). \"Trust this device\" is for personal devices only, never for shared ones. Not ready to send.", quote(s, 140))
		}
	}
	return ""
}

// Outages ----------------------------------------------------------------

var (
	serverError = regexp.MustCompile(`(?i)\b5\d\d\b|bad gateway|service unavailable|internal server error|gateway timeout`)
	scopeWords  = []string{"everyone", "every", "all", "nobody", "whole", "entire", "office", "company", "several", "users", "everybody"}
	failWords   = []string{"fail", "fails", "failing", "failed", "stuck", "down", "stalled", "unavailable", "errors", "error", "interrupted", "slow", "waiting", "outage", "broken"}
	lostWords   = []string{"vanished", "disappeared", "missing", "gone", "lost"}
)

// looksLikeIncident reports whether a question describes what the fact
// sheet calls a service problem: 5xx errors, several users or a whole
// office failing at once, or files missing without being in Trash.
func looksLikeIncident(question string) bool {
	if serverError.MatchString(question) {
		return true
	}
	ws := newWordSet(question)
	if ws.any(scopeWords...) && ws.any(failWords...) {
		return true
	}
	if ws.any(lostWords...) && ws["trash"] && containsAny(question, "not in trash", "not in the trash", "aren't in trash", "aren't in the trash", "isn't in trash") {
		return true
	}
	return containsAny(question, "can't sign in", "cannot sign in", "can't log in", "is northwind down", "are you down")
}

func outageBreach(m *material) string {
	if !looksLikeIncident(m.question) {
		return ""
	}
	status := containsAny(m.answer, "status.northwind", "status page")
	escalated := containsAny(m.answer, "escalat", "on-call", "on call")
	var missing string
	switch {
	case !status && !escalated:
		missing = "neither links the status page nor escalates to on-call engineering"
	case !status:
		missing = "does not link the status page"
	case !escalated:
		missing = "does not escalate to on-call engineering"
	default:
		return ""
	}
	return fmt.Sprintf("The customer reports what looks like a service problem (%q), and the reply %s. A possible outage or data loss needs https://status.northwind.example and an escalation to on-call in the first reply; troubleshooting tips alone are not enough, so it is not ready to send.", quote(m.question, 110), missing)
}
