// Package report renders the comparison of two judges against human labels
// (an agreement.Comparison) for people: as plain text for a terminal
// ([WriteText]) and as a self-contained HTML page ([WriteHTML]).
//
// A [Page] is the comparison with what it is about: the two judges (A, the
// base, and B, the candidate), the name of the human feedback they were
// measured against and the experiment. Both renderings show the same
// things in the same order:
//
//  1. the headline figures of each judge with their confidence intervals,
//     and the change from A to B with the interval of the paired
//     bootstrap, read as "B better", "B worse" or neither when the
//     interval of the change includes zero;
//  2. McNemar's exact test of the difference in accuracy;
//  3. the confusion matrix of each judge against the humans;
//  4. precision, recall and F1 per class;
//  5. the disagreements, the traces where B still disagrees with the
//     humans first;
//  6. the notes: what the figures leave out and why.
//
// The HTML page needs nothing but itself: its style sheet is inline, its
// charts are inline SVG (heat maps for the confusion matrices, bars for
// the per-class figures, dots with whiskers for the headline figures), it
// runs no script and loads nothing from the network. Every text that comes
// from data (judge names, labels, rationales) is escaped by html/template,
// so a rationale holding markup is shown as text. The text rendering
// escapes every such text for the terminal (package termtext): a control
// character, a bidi override or invalid UTF-8 in a rationale is shown as a
// visible escape such as \x1b or \u202e and cannot drive the terminal.
//
// The package only formats; package agreement computes every figure, and
// package validate produces the comparison from judges and traces.
package report
