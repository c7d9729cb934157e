package checkpoints

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Every object is a one-line header followed by a JSON body:
//
//	graphjob/v2 <kind> <body size> sha256:<hex of the body's SHA-256> <key>\n
//
// The header makes each object self-describing and self-checking, whatever
// the store keeps (or loses) of its metadata, and binds it to its place:
// the key names the run, the step, the task, so an object copied from
// another run or another place is refused where it is read. (Version 1
// headers had no key.)
const (
	formatVersion = 2
	magic         = "graphjob/v"
	// maxHeader bounds a header: the longest key (a run ID of 253
	// characters, a channel's escaped name) with room to spare.
	maxHeader = 2048
)

type kind string

const (
	kindRun     kind = "run"
	kindStep    kind = "step"
	kindValue   kind = "value"
	kindWrite   kind = "write"
	kindResult  kind = "result"
	kindFloor   kind = "floor"
	kindCursor  kind = "cursor"
	kindAttempt kind = "attempt"
	kindEnded   kind = "ended"
	kindSlot    kind = "slot"
	kindSince   kind = "since"
)

// object is an encoded object: its header, its body and the body's hash.
type object struct {
	header []byte
	body   []byte
	sum    string // hex SHA-256 of body
}

// encode makes the object of kind k stored at key.
func encode(k kind, key string, body []byte) object {
	sum := checksum(body)
	header := fmt.Appendf(nil, "%s%d %s %d sha256:%s %s\n", magic, formatVersion, k, len(body), sum, key)
	return object{header: header, body: body, sum: sum}
}

// checksum is the hex SHA-256 of a body.
func checksum(body []byte) string {
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

func (o object) size() int64 { return int64(len(o.header) + len(o.body)) }

// equal reports whether data is exactly o's bytes.
func (o object) equal(data []byte) bool {
	h := len(o.header)
	return len(data) == h+len(o.body) && bytes.Equal(data[:h], o.header) && bytes.Equal(data[h:], o.body)
}

// decode checks an object of kind want read at key and returns its body
// and the body's hash. Only the exact header encode writes for that kind,
// key and body is accepted. Errors wrap ErrCorrupt or ErrUnsupported and
// say what is wrong.
func decode(data []byte, want kind, key string) (body []byte, sum string, err error) {
	end := bytes.IndexByte(data[:min(len(data), maxHeader)], '\n')
	if !bytes.HasPrefix(data, []byte(magic)) || end < 0 {
		return nil, "", fmt.Errorf("%w: not a graphjob checkpoint object (no %q header)", ErrCorrupt, magic+"N")
	}
	header := string(data[:end])
	fields := strings.Split(header, " ")
	version, err := strconv.Atoi(strings.TrimPrefix(fields[0], magic))
	if err != nil {
		return nil, "", fmt.Errorf("%w: malformed header %q", ErrCorrupt, header)
	}
	if version != formatVersion {
		return nil, "", fmt.Errorf("%w: format v%d; this graphjob reads v%d: use the graphjob release that wrote the run", ErrUnsupported, version, formatVersion)
	}
	body = data[end+1:]
	obj := encode(want, key, body)
	if bytes.Equal(obj.header, data[:end+1]) {
		return body, obj.sum, nil
	}
	// Say what differs.
	switch {
	case len(fields) != 5 || !strings.HasPrefix(fields[3], "sha256:"):
		return nil, "", fmt.Errorf("%w: malformed header %q", ErrCorrupt, header)
	case kind(fields[1]) != want:
		return nil, "", fmt.Errorf("%w: a %q object where a %s object belongs", ErrCorrupt, fields[1], want)
	case fields[2] != strconv.Itoa(len(body)):
		return nil, "", fmt.Errorf("%w: body is %d bytes, its header says %q: truncated or appended to", ErrCorrupt, len(body), fields[2])
	case fields[3] != "sha256:"+obj.sum:
		return nil, "", fmt.Errorf("%w: SHA-256 of the body is %s, its header says %s: the object was changed after it was written", ErrCorrupt, obj.sum, strings.TrimPrefix(fields[3], "sha256:"))
	case fields[4] != key:
		return nil, "", fmt.Errorf("%w: the object was written as %s: it was copied or moved here from another run or place", ErrCorrupt, fields[4])
	}
	return nil, "", fmt.Errorf("%w: malformed header %q", ErrCorrupt, header)
}
