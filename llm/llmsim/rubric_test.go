package llmsim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/judge"
)

// The texts below are written for these tests; none comes from the demo
// dataset, so the rubric is shown to work on replies it was not written
// from.

func testJudge(t *testing.T) *judge.Judge {
	t.Helper()
	j, err := judge.New("reply_quality", "Is the reply in {{ outputs }} a helpful, accurate and polite answer to the request in {{ inputs }}?",
		judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// decide renders a judge request with the real judge.Request and answers
// it as the simulated model does.
func decide(t *testing.T, plan, question, answer string, opts ...judge.RequestOption) verdict {
	t.Helper()
	in := map[string]any{"question": question, "customer": "Test Customer, Example Ltd"}
	if plan != "" {
		in["plan"] = plan
	}
	req, err := testJudge(t).Request(judge.Input{Inputs: in, Outputs: map[string]any{"answer": answer}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseJudgePrompt(req.Messages[0].Content, req.Messages[1].Content)
	if err != nil {
		t.Fatal(err)
	}
	return judgement(p)
}

// taughtBy teaches through the guidelines block.
func taughtBy(texts ...string) judge.RequestOption { return judge.WithGuidelines(texts...) }

// shownExample teaches through the examples block: an expert judgement
// whose rationale states the rule.
func shownExample(value, rationale string) judge.RequestOption {
	return judge.WithExamples(judge.Example{
		TraceID: "tr-example", Inputs: `{"question": "Can you help with my account?", "plan": "Team"}`,
		Outputs: `{"answer": "Sure, here is what to do."}`, Value: value, Rationale: rationale,
	})
}

const renameQ = "How do I rename a shared folder without breaking the links people already have?"

func TestGenericRubric(t *testing.T) {
	tone := taughtBy("A blunt or short reply is fine when it is correct.")
	cases := []struct {
		name     string
		question string
		answer   string
		opts     []judge.RequestOption
		want     string
		because  string
	}{
		{"polite and on topic", renameQ,
			"Thanks for asking, Lena. Right-click the folder, choose Rename, type the new name and press Enter. Everyone it is shared with sees the new name at once, and existing links keep working because they point to the folder, not its name.",
			nil, yes, "ready to send"},
		{"off topic", renameQ,
			"Happy to help! Our mobile app now supports dark mode: open Settings > Appearance and pick Dark. Let us know what you think of the new look!",
			nil, no, "never addresses"},
		{"condescending", renameQ,
			"This is in the help center, which you could have read yourself. Right-click the folder, choose Rename and type the new name; links keep working.",
			nil, no, "condescending"},
		{"curt", renameQ, "Right-click it, choose Rename. Links keep working.", nil, no, "curt"},
		{"curt, brevity taught", renameQ, "Right-click it, choose Rename. Links keep working.", []judge.RequestOption{tone}, yes, "blunt answer is fine"},
		{"rude even when brevity is taught", renameQ, "You should have searched first. Right-click, Rename.", []judge.RequestOption{tone}, no, "condescending"},
		{"shared login", "A contractor joins us for a week. Can he work in my account?",
			"Sure, Paul! For a week, sharing your login with him is the simplest option; just change your password once he leaves.",
			nil, no, "sharing a login"},
		{"password in a script", "How should our nightly backup script sign in?",
			"Thanks, Jo! Store your account password in an environment variable on the server and send it with basic auth from the script each night.",
			nil, no, "password in a script"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := decide(t, "Team", c.question, c.answer, c.opts...)
			if v.Result != c.want || !strings.Contains(v.Rationale, c.because) {
				t.Errorf("got %s: %s\nwant %s because %q", v.Result, v.Rationale, c.want, c.because)
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	type tc struct {
		name           string
		plan, question string
		answer         string
		opts           []judge.RequestOption
		want           string
		because        string
	}
	refundGuideline := taughtBy("Monthly plans are never refunded; refunds exist only on annual plans within 30 days.")
	refundPromise := "Thanks for reaching out, Kim, and sorry about the surprise. I've issued a full refund of last month's $60 charge, and it should reach your card within a week. Let me know if there's anything else I can do!"
	ssoSteps := "Great question, Omar! In Okta, add a SAML 2.0 app, then paste its metadata URL under Admin > Security > Single sign-on and click Test connection. Once it passes, your staff sign in with Okta."
	twoFAOff := "Of course, Ravi! I've switched off two-factor authentication on your admin account, so from now on you can sign in with just your password."
	outageTips := "Thanks for letting us know, Ana! Errors like these usually come from a stale cache: please clear your browser cache, restart the desktop app and check your proxy settings."
	rateReply := "Thanks for asking, Ivo! Your Team workspace can send up to 3,000 API requests per minute, shared by all its tokens, so plan your batch jobs around that."
	cases := []tc{
		{"refund untaught", "Team", "We pay monthly and forgot to cancel. Can we get last month's charge back?", refundPromise, nil, yes, "ready to send"},
		{"refund taught by guideline", "Team", "We pay monthly and forgot to cancel. Can we get last month's charge back?", refundPromise,
			[]judge.RequestOption{refundGuideline}, no, "monthly billing"},
		{"refund taught by an example", "Team", "We pay monthly and forgot to cancel. Can we get last month's charge back?", refundPromise,
			[]judge.RequestOption{shownExample(no, "Promises a refund on a monthly plan; monthly subscriptions are never refunded.")}, no, "monthly billing"},
		{"refund declined", "Team", "We pay monthly and forgot to cancel. Can we get last month's charge back?",
			"Thanks for reaching out, Kim. Monthly plans aren't refundable, so I can't return last month's charge, but if you cancel under Admin > Billing > Cancel plan you won't be billed again.",
			[]judge.RequestOption{refundGuideline}, yes, "ready to send"},
		{"prorated refund", "Team", "We removed three seats from our annual plan last week. Can we get credit for them?",
			"Thanks, Nora! I've applied a prorated refund for the three seats, covering the rest of your term; it will show on your card in a few days.",
			[]judge.RequestOption{refundGuideline}, no, "prorated refund"},
		{"sso untaught", "Team", "Can our staff log in with Okta?", ssoSteps, nil, yes, "ready to send"},
		{"sso taught, Team", "Team", "Can our staff log in with Okta?", ssoSteps,
			[]judge.RequestOption{taughtBy("SSO with Okta is Enterprise-only.")}, no, "Enterprise-only"},
		{"sso taught, Enterprise", "Enterprise", "Can our staff log in with Okta?", ssoSteps,
			[]judge.RequestOption{taughtBy("SSO with Okta is Enterprise-only.")}, yes, "ready to send"},
		{"sso taught, declined", "Team", "Can our staff log in with Okta?",
			"Thanks, Omar. Okta sign-in is an Enterprise feature, so it isn't available on Team; sales@northwind.example can walk you through upgrading.",
			[]judge.RequestOption{taughtBy("SSO with Okta is Enterprise-only.")}, yes, "ready to send"},
		{"2fa untaught", "Team", "I'm an admin. Can you switch off 2FA on my account?", twoFAOff, nil, yes, "ready to send"},
		{"2fa taught", "Team", "I'm an admin. Can you switch off 2FA on my account?", twoFAOff,
			[]judge.RequestOption{taughtBy("2FA is mandatory for admins.")}, no, "two-factor"},
		{"2fa taught, kept on", "Team", "I'm an admin. Can you switch off 2FA on my account?",
			"Thanks, Ravi. Two-factor authentication can't be turned off for admin accounts, but you can re-enrol a new phone under Settings > Security with a recovery code.",
			[]judge.RequestOption{taughtBy("2FA is mandatory for admins.")}, yes, "ready to send"},
		{"outage untaught", "Team", "Since 8:00 everyone in our Lisbon office gets 500 errors when opening files.", outageTips, nil, yes, "ready to send"},
		{"outage taught", "Team", "Since 8:00 everyone in our Lisbon office gets 500 errors when opening files.", outageTips,
			[]judge.RequestOption{taughtBy("Incidents need the status page link and an on-call escalation.")}, no, "neither links the status page nor escalates"},
		{"outage taught, handled", "Team", "Since 8:00 everyone in our Lisbon office gets 500 errors when opening files.",
			"Sorry about this, Ana. We're investigating errors on file opens: follow https://status.northwind.example for updates. I've escalated your ticket to on-call engineering.",
			[]judge.RequestOption{taughtBy("Incidents need the status page link and an on-call escalation.")}, yes, "ready to send"},
		{"not an incident", "Team", "How do I clear the desktop app's cache?", outageTips,
			[]judge.RequestOption{taughtBy("Incidents need the status page link and an on-call escalation.")}, yes, "ready to send"},
		{"limit untaught", "Team", "What's our API rate limit?", rateReply, nil, yes, "ready to send"},
		{"limit taught with figures", "Team", "What's our API rate limit?", rateReply,
			[]judge.RequestOption{shownExample(yes, "Right: Team's API limit is 600 requests per minute, and 3,000 is Enterprise.")}, no, "that is the Enterprise plan's figure"},
		{"limit taught without Team's figure", "Team", "What's our API rate limit?", rateReply,
			[]judge.RequestOption{taughtBy("Enterprise allows 3,000 API requests per minute.")}, yes, "ready to send"},
		{"limit right", "Team", "What's our API rate limit?",
			"Thanks for asking, Ivo! Your Team workspace can send up to 600 API requests per minute, shared by all its tokens, so plan your batch jobs around that.",
			[]judge.RequestOption{taughtBy("Team's API limit is 600 requests per minute.")}, yes, "ready to send"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := decide(t, c.plan, c.question, c.answer, c.opts...)
			if v.Result != c.want || !strings.Contains(v.Rationale, c.because) {
				t.Errorf("got %s: %s\nwant %s because %q", v.Result, v.Rationale, c.want, c.because)
			}
		})
	}
}

// TestImitation: a near-duplicate example's expert value is followed even
// where the generic rubric would decide otherwise; a merely related one is
// not.
func TestImitation(t *testing.T) {
	q := "Can we get a discount for paying three years upfront?"
	a := "Thanks for asking, Mo! I've applied a 25% discount to your workspace for a three-year upfront payment; it shows on your next invoice."
	example := func(question, answer string) judge.RequestOption {
		in, _ := json.Marshal(map[string]string{"question": question, "plan": "Team"})
		out, _ := json.Marshal(map[string]string{"answer": answer})
		return judge.WithExamples(judge.Example{TraceID: "tr-1", Inputs: string(in), Outputs: string(out), Value: "no",
			Rationale: "Support never grants discounts; pricing questions go to sales."})
	}
	v := decide(t, "Team", q, a, example(q, strings.Replace(a, "Mo", "Jin", 1)))
	if v.Result != no || !strings.Contains(v.Rationale, "never grants discounts") {
		t.Errorf("near-duplicate: got %s: %s", v.Result, v.Rationale)
	}
	v = decide(t, "Team", q, a, example("How do I change the billing email on our invoices?", "Thanks! Go to Admin > Billing > Billing details and edit the email."))
	if v.Result != yes {
		t.Errorf("unrelated example: got %s: %s", v.Result, v.Rationale)
	}
}

func TestTaughtPolicies(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"Promises a full refund on a monthly plan; monthly plans are never refunded.", []string{policyRefunds}},
		{"Walks a Team workspace through SAML setup, but SSO is Enterprise-only.", []string{policySSO}},
		{"We never switch off 2FA on an admin account.", []string{policySecurity}},
		{"Link the status page and escalate to on-call.", []string{policyOutage}},
		{"Team keeps deleted files for 30 days, not 90.", []string{policyLimits}},
		{"Curt, but correct. Fine to send.", []string{policyTone}},
		{"Clear, accurate steps. Ready to send.", nil},
		{"Good, safe sharing advice: a password-protected link.", nil},
		{"A short-term collaborator should be invited as a guest.", nil},
	}
	for _, c := range cases {
		var got []string
		for name := range taughtPolicies([]string{c.text}) {
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q teaches %v, want %v", c.text, got, c.want)
		}
	}
}

// TestGuidelinesTeachTheirPolicy: what distillation writes for a policy
// must teach that policy, and only it, to the judge that reads it back;
// the limits guideline must carry its figures.
func TestGuidelinesTeachTheirPolicy(t *testing.T) {
	sources := []string{"Team's API limit is 600 requests per minute; 3,000 is Enterprise.", "Enterprise keeps deleted files for 90 days."}
	for _, p := range catalogue() {
		g := p.guideline(sources)
		got := taughtPolicies([]string{g})
		if len(got) != 1 || !got[p.name] {
			t.Errorf("the %s guideline teaches %v: %s", p.name, got, g)
		}
	}
	known := learnFigures([]string{limitsGuideline(sources)})
	want := figures{"Team": {kindRate: 600}, "Enterprise": {kindRate: 3000, kindRecovery: 90}}
	if !reflect.DeepEqual(known, want) {
		t.Errorf("the limits guideline teaches %v, want %v", known, want)
	}
}

func TestClaims(t *testing.T) {
	type c = struct {
		plan, kind string
		value      float64
	}
	cases := []struct {
		text     string
		fallback string
		reply    bool
		want     []c
	}{
		{"Team: 600 requests per minute. Enterprise raises the limit to 3,000/min.", "", true,
			[]c{{"Team", kindRate, 600}, {"Enterprise", kindRate, 3000}}},
		{"Deleted files stay in Trash for 30 days.", "Enterprise", true, []c{{"Enterprise", kindRecovery, 30}}},
		{"Deleted files stay in Trash for 30 days.", "", false, nil},
		{"Team keeps deleted files for 30 days, not 90 (that's Enterprise).", "", false, []c{{"Team", kindRecovery, 30}}},
		{"The limits are right (600 on Team, 3,000 on Enterprise) and so is the retry advice.", "", false,
			[]c{{"Team", kindRate, 600}, {"Enterprise", kindRate, 3000}}},
		{"A shared token bucket at about 2,800 requests per minute works well.", "Enterprise", true, nil},
		{"Team is $12 per user per month, or $120 per user per year billed annually.", "Free", true,
			[]c{{"Team", kindMonthlyPrice, 12}, {"Team", kindAnnualPrice, 120}}},
		{"Create an Enterprise Application in Azure. Keep under 50 requests per minute.", "Team", true, []c{{"Team", kindRate, 50}}},
		{"We'll complete it within 30 days as GDPR requires.", "Team", true, nil},
	}
	for _, tc := range cases {
		var got []c
		for _, cl := range claims(tc.text, tc.fallback, tc.reply) {
			got = append(got, c{cl.plan, cl.kind, cl.value})
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("claims(%q, %q, %v) = %v, want %v", tc.text, tc.fallback, tc.reply, got, tc.want)
		}
	}
}

func TestDistillation(t *testing.T) {
	prompt := func(existing []string, rationales ...string) string {
		var b strings.Builder
		b.WriteString("# The judge's instructions\n\nJudge the reply.\n\n# Existing guidelines\n\n")
		if len(existing) == 0 {
			b.WriteString("None yet.\n")
		}
		for _, g := range existing {
			b.WriteString("- " + g + "\n")
		}
		b.WriteString("\n# Examples\n\nEach example is a JSON object on one line.\n\n")
		for i, r := range rationales {
			line, _ := json.Marshal(map[string]any{"id": i, "inputs": "q", "outputs": "a", "result": "no", "rationale": r})
			b.Write(line)
			b.WriteString("\n")
		}
		return b.String()
	}
	refund := "Promises a refund on a monthly plan; monthly plans are never refunded."
	sso := "SSO is Enterprise-only and this is a Team workspace."
	cases := []struct {
		name     string
		existing []string
		records  []string
		want     []string // policy name and sources, in order
	}{
		{"grouped by policy in catalogue order", nil,
			[]string{"Blunt, but right.", refund, "Clear steps.", sso, "Issues a prorated refund on a monthly plan."},
			[]string{"refunds [1 4]", "sso [3]", "tone [0]"}},
		{"covered policies are skipped", []string{"SSO with Okta is Enterprise-only."},
			[]string{refund, sso}, []string{"refunds [0]"}},
		{"nothing to learn", nil, []string{"Clear steps.", "Accurate and polite."}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseDistillPrompt(prompt(c.existing, c.records...))
			if err != nil {
				t.Fatal(err)
			}
			ans := distillation(p)
			var got []string
			for _, g := range ans.Guidelines {
				got = append(got, fmt.Sprintf("%s %v", policyOf(t, g.Text), g.Sources))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("guidelines %v, want %v", got, c.want)
			}
			b, _ := json.Marshal(ans)
			if !strings.HasPrefix(string(b), `{"guidelines":[`) {
				t.Errorf("answer %s: the list must be a JSON array, even empty", b)
			}
		})
	}
}

// policyOf names the one policy a guideline teaches.
func policyOf(t *testing.T, text string) string {
	t.Helper()
	for name := range taughtPolicies([]string{text}) {
		return name
	}
	t.Fatalf("guideline teaches nothing: %s", text)
	return ""
}
