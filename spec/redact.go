package spec

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// minRedacted is the length below which a value the node sent is not
// redacted: shorter values are too likely to be ordinary words of a message.
const minRedacted = 4

// redacted stands for a value the node sent, wherever an error quotes what
// a server sent back.
const redacted = "[redacted]"

// redactor hides the header values an http node sent in what the server sent
// back (its status line, its body, its JSON), before they reach an error,
// and so a run's stored result and the logs: a server that echoes the
// request, such as a debug endpoint or a proxy's error page, would otherwise
// put the node's own credentials there.
type redactor struct {
	values []string
	r      *strings.Replacer
}

// add records a value the node sent, with the forms a server or an error
// message may give it: the credentials after an authorization scheme
// ("Bearer X", "Basic X"), Basic credentials decoded, and the value escaped
// as Go's %q and JSON quote it.
func (r *redactor) add(v string) {
	forms := []string{v}
	if scheme, token, ok := strings.Cut(v, " "); ok && isToken(scheme) {
		token = strings.TrimSpace(token)
		forms = append(forms, token)
		if strings.EqualFold(scheme, "Basic") {
			if b, err := base64.StdEncoding.DecodeString(token); err == nil {
				_, password, _ := strings.Cut(string(b), ":")
				forms = append(forms, string(b), password)
			}
		}
	}
	for _, f := range forms {
		if len(f) < minRedacted {
			continue
		}
		q := strconv.Quote(f)
		j, _ := json.Marshal(f)
		r.values = append(r.values, f, q[1:len(q)-1], string(j[1:len(j)-1]))
	}
	r.r = nil
}

// isToken reports whether s is an HTTP token such as an authorization
// scheme: letters, digits and a few marks, no spaces.
func isToken(s string) bool {
	return s != "" && strings.IndexFunc(s, func(c rune) bool {
		return c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}) < 0
}

// String returns s with every value recorded replaced by [redacted].
func (r *redactor) String(s string) string {
	if len(r.values) == 0 {
		return s
	}
	if r.r == nil {
		// The longest first, so that "Bearer X" is replaced whole rather
		// than its X alone.
		vs := slices.Clone(r.values)
		slices.SortFunc(vs, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
		vs = slices.Compact(vs)
		pairs := make([]string, 0, 2*len(vs))
		for _, v := range vs {
			pairs = append(pairs, v, redacted)
		}
		r.r = strings.NewReplacer(pairs...)
	}
	return r.r.Replace(s)
}

// Error returns err with its message redacted. It wraps err, so that
// errors.Is and errors.As still find what err wraps (a PermanentError, a
// timeout); only its message changes.
func (r *redactor) Error(err error) error {
	if err == nil || len(r.values) == 0 {
		return err
	}
	return &redactedError{msg: r.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.err }

// pending returns how many bytes at the end of s may begin a recorded value
// (the longest suffix of s that is a proper prefix of one): text to hold
// back until what follows shows whether it is one.
func (r *redactor) pending(s string) int {
	n := 0
	for _, v := range r.values {
		for k := min(len(v)-1, len(s)); k > n; k-- {
			if strings.HasSuffix(s, v[:k]) {
				n = k
				break
			}
		}
	}
	return n
}
