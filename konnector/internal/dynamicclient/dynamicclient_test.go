package dynamicclient

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

const database = `{"apiVersion":"example.com/v1","kind":"Database","metadata":{"name":"db","namespace":"ns","resourceVersion":"7","labels":{"a":"b"}},"spec":{"size":3,"ratio":0.5,"big":9007199254740993,"tags":["x",null,true],"empty":{}},"status":{"ready":false}}`

const databaseList = `{"apiVersion":"example.com/v1","kind":"DatabaseList","metadata":{},"items":[` + database + `]}`

// clientGo is the dynamic client's own negotiated serializer.
func clientGo() runtime.NegotiatedSerializer {
	return dynamic.ConfigFor(&rest.Config{}).NegotiatedSerializer
}

type decoded struct {
	Object runtime.Object
	Kind   string
	Err    string
}

func decode(d runtime.Decoder, data string, into func() runtime.Object) decoded {
	var in runtime.Object
	if into != nil {
		in = into()
	}
	obj, gvk, err := d.Decode([]byte(data), nil, in)
	out := decoded{Object: obj}
	if gvk != nil {
		out.Kind = gvk.String()
	}
	if err != nil {
		out.Err = err.Error()
	}
	return out
}

// TestDecodesAsClientGo decodes each document with client-go's dynamic
// decoder and with this package's, whole and skipping managed fields,
// and wants the same objects, kinds and errors; and the documents this
// package decodes itself, decoded here.
func TestDecodesAsClientGo(t *testing.T) {
	unstructuredInto := func() runtime.Object {
		return &unstructured.Unstructured{Object: map[string]any{"stale": "field"}}
	}
	tests := []struct {
		name string
		data string
		into func() runtime.Object
		fast bool // whether decodeUnstructured takes it
	}{
		{name: "custom resource", data: database, fast: true},
		{name: "custom resource into an object", data: database, into: unstructuredInto, fast: true},
		{name: "core object", data: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"dg=="}}`, fast: true},
		{name: "status", data: `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Conflict","code":409}`},
		{name: "status into an object", data: `{"apiVersion":"v1","kind":"Status","status":"Success"}`, into: unstructuredInto},
		{name: "no kind", data: `{"apiVersion":"example.com/v1","metadata":{"name":"db"}}`},
		{name: "no kind into an object", data: `{"apiVersion":"example.com/v1","metadata":{"name":"db"}}`, into: unstructuredInto},
		{name: "no apiVersion", data: `{"kind":"Database","metadata":{"name":"db"}}`},
		{name: "no apiVersion into an object", data: `{"kind":"Database","metadata":{"name":"db"}}`, into: unstructuredInto},
		{name: "kind not a string", data: `{"apiVersion":"example.com/v1","kind":7}`},
		{name: "not an object", data: `[1,2]`},
		{name: "null", data: `null`, into: unstructuredInto},
		{name: "bad JSON", data: `{"apiVersion":"example.com/v1","kind":"Database",`},
		{name: "bad JSON into an object", data: `{"apiVersion":"example.com/v1","kind":"Database",`, into: unstructuredInto},
		{name: "list", data: databaseList, fast: true}, // an object, as client-go decodes it
		{name: "list into a list", data: databaseList, into: func() runtime.Object { return &unstructured.UnstructuredList{} }, fast: true},
		{name: "bad JSON in managed fields", data: `{"apiVersion":"example.com/v1","kind":"Database","metadata":{"managedFields":[{"manager":"x","f":tru}]}}`},
		{name: "cut in managed fields", data: `{"apiVersion":"example.com/v1","kind":"Database","metadata":{"managedFields":`, into: unstructuredInto},
	}
	want := clientGoDecoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, keep := range []func(string) bool{nil, only()} {
				got := jsonDecoder(negotiated(clientGo(), keep))
				w, g := decode(want, tt.data, tt.into), decode(got, tt.data, tt.into)
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("decoded differently from client-go, skipping managed fields: %t (-client-go +here):\n%s", keep != nil, diff)
				}
				if _, _, fast := decodeUnstructured([]byte(tt.data), nil, keep); fast != tt.fast {
					t.Errorf("decoded here: %t, want %t (skipping managed fields: %t)", fast, tt.fast, keep != nil)
				}
			}
		})
	}
}

// BenchmarkDecode decodes a write's response as the konnector's dynamic
// client does, with client-go's decoder and with this package's.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		ns   runtime.NegotiatedSerializer
	}{{"client-go", clientGo()}, {"dynamicclient", negotiated(clientGo(), nil)}} {
		d := jsonDecoder(bc.ns)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var u unstructured.Unstructured
				if _, _, err := d.Decode([]byte(database), nil, &u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
