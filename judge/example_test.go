package judge_test

import (
	"fmt"

	"github.com/alignhost/alignhost/judge"
)

func Example() {
	j, err := judge.New("product_quality",
		"Rate the answer in {{ outputs }} to the customer question in {{ inputs }}.",
		judge.WithValues("excellent", "good", "fair", "poor"),
		judge.WithModel("openai:/gpt-4.1-mini"))
	if err != nil {
		fmt.Println(err)
		return
	}

	req, err := j.Request(judge.Input{
		Inputs:  map[string]any{"question": "Does the X200 charge over USB-C?"},
		Outputs: "Yes, at up to 45 W.",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Model)
	fmt.Println(req.Messages[1].Content)

	// The model's answer, as a chat completion returns it.
	value, rationale, err := j.ParseAnswer(`{"rationale": "Correct and specific.", "result": "Excellent"}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s\n", value, rationale)
	// Output:
	// openai:/gpt-4.1-mini
	// <inputs>
	// {
	//   "question": "Does the X200 charge over USB-C?"
	// }
	// </inputs>
	//
	// <outputs>
	// Yes, at up to 45 W.
	// </outputs>
	//
	// Judge the material above by the instructions, and answer with the JSON object only.
	// excellent: Correct and specific.
}

func ExampleBuiltin() {
	j, err := judge.Builtin("guidelines",
		judge.WithName("support_policy"),
		judge.WithGuidelines("Never promise a refund.", "Offer to escalate to a human."))
	if err != nil {
		fmt.Println(err)
		return
	}
	vars, _ := j.Variables()
	fmt.Println(j.Name, j.Builtin, j.Type, vars)
	// Output:
	// support_policy guidelines boolean [inputs outputs]
}
