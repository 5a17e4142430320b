package termtext_test

import (
	"fmt"

	"github.com/alignhost/alignhost/termtext"
)

func Example() {
	rationale := "fine\x1b]0;pwned\x07 \u202eevil\nsecond line"
	fmt.Println(termtext.Line(rationale))
	fmt.Println(termtext.Text(rationale))
	// Output:
	// fine\x1b]0;pwned\x07 \u202eevil\nsecond line
	// fine\x1b]0;pwned\x07 \u202eevil
	// second line
}
