package access

import "testing"

func TestAllows(t *testing.T) {
	tests := []struct {
		name   string
		list   AllowList
		sub    string
		user   string
		groups []string
		want   bool
	}{
		{"empty lists allow everyone", AllowList{}, "s", "", nil, true},
		{"by subject", AllowList{Users: []string{"s"}}, "s", "", nil, true},
		{"by name", AllowList{Users: []string{"a@example.com"}}, "s", "a@example.com", nil, true},
		{"an empty name matches nothing", AllowList{Users: []string{""}}, "s", "", nil, false},
		{"by group", AllowList{Groups: []string{"dev"}}, "s", "", []string{"ops", "dev"}, true},
		{"neither", AllowList{Users: []string{"x"}, Groups: []string{"dev"}}, "s", "n", []string{"ops"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.list.Allows(tt.sub, tt.user, tt.groups); got != tt.want {
				t.Fatalf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
}
