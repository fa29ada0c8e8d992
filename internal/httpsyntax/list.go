package httpsyntax

import (
	"iter"
	"strings"
)

// ListHas reports whether the field lines of a comma-separated list field
// (RFC 9110 §5.6.1: elements separated by commas with optional whitespace,
// lines combined as one list, §5.3) hold the element name, compared
// case-insensitively as field names and tokens are (Vary, Connection).
func ListHas(lines []string, name string) bool {
	for elem := range elems(lines) {
		if strings.EqualFold(elem, name) {
			return true
		}
	}
	return false
}

// elems yields the non-empty elements of a comma-separated list field's
// lines (RFC 9110 §5.6.1), optional whitespace trimmed.
func elems(lines []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, line := range lines {
			for elem := range strings.SplitSeq(line, ",") {
				if elem = strings.Trim(elem, " \t"); elem != "" && !yield(elem) {
					return
				}
			}
		}
	}
}

// AppendList returns the field lines of a list field with the names that no
// line lists yet added as one more line (Vary: "Origin"); lines itself when
// none is missing. The array of lines is never written to: a stored
// response's field lines may be shared by concurrent hits.
func AppendList(lines []string, names ...string) []string {
	var missing []string
	for _, name := range names {
		if !ListHas(lines, name) && !ListHas(missing, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return lines
	}
	return append(lines[:len(lines):len(lines)], strings.Join(missing, ", "))
}
