package checkpoints

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the object decoder and the record
// decoders: they must return an error or a checked body, never panic, and
// accept nothing whose hash does not match.
func FuzzDecode(f *testing.F) {
	for _, k := range []kind{kindStep, kindValue, kindWrite, kindRun, kindResult} {
		obj := encode(k, "runs/r/"+string(k), []byte(`{"run":"r","step":1,"channels":{"a":{"version":1,"sha256":"`+string(bytes.Repeat([]byte("a"), 64))+`","size":1}},"next":[{"node":"n","item":1,"hasItem":true}]}`))
		f.Add(append(obj.header, obj.body...), string(k), "runs/r/"+string(k))
	}
	// A header in another spelling than encode's (found by fuzzing) is refused.
	v := encode(kindValue, "v", []byte("{}"))
	f.Add(append(bytes.Replace(v.header, []byte("v2 "), []byte("v02 "), 1), v.body...), "value", "v")
	f.Add([]byte("graphjob/v2 step 2 sha256:00 k\n{}"), "step", "k")
	f.Add([]byte("graphjob/v1 step 2 sha256:00\n{}"), "step", "k")
	f.Add([]byte("graphjob/v99999999999999999999 step 2 sha256:00\n{}"), "step", "")
	f.Add([]byte("graphjob/v2\n"), "value", "")
	f.Fuzz(func(t *testing.T, data []byte, k, key string) {
		body, sum, err := decode(data, kind(k), key)
		if err != nil {
			return
		}
		if again := encode(kind(k), key, body); again.sum != sum || !again.equal(data) {
			t.Fatalf("decode accepted %q, which does not encode back to itself", data)
		}
		var v any
		_ = unmarshal(body, &v)
		var st Step
		if unmarshal(body, &st) == nil {
			_ = checkStep(&st, st.Run, st.Step)
		}
		var w Write
		_ = unmarshal(body, &w)
	})
}
