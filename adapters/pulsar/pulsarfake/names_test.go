package pulsarfake

import "testing"

func TestFullTopicName(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "t", want: "persistent://public/default/t"},
		{in: "ten/ns/t", want: "persistent://ten/ns/t"},
		{in: "persistent://ten/ns/t", want: "persistent://ten/ns/t"},
		{in: "non-persistent://ten/ns/t", want: "non-persistent://ten/ns/t"},
		{in: "persistent://ten/cluster/ns/t", want: "persistent://ten/cluster/ns/t"},
		{in: "", wantErr: true},
		{in: "a/b", wantErr: true},
		{in: "kafka://a/b/c", wantErr: true},
		{in: "persistent://a//c", wantErr: true},
	}
	for _, tc := range tests {
		got, err := fullTopicName(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("fullTopicName(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSplitPartition(t *testing.T) {
	tests := []struct {
		in, base string
		idx      int
	}{
		{"persistent://a/b/t-partition-3", "persistent://a/b/t", 3},
		{"persistent://a/b/t", "persistent://a/b/t", -1},
		{"persistent://a/b/t-partition-x", "persistent://a/b/t-partition-x", -1},
		{"persistent://a/b/t-partition--1", "persistent://a/b/t-partition--1", -1},
	}
	for _, tc := range tests {
		base, idx := splitPartition(tc.in)
		if base != tc.base || idx != tc.idx {
			t.Errorf("splitPartition(%q) = %q, %d; want %q, %d", tc.in, base, idx, tc.base, tc.idx)
		}
	}
}
