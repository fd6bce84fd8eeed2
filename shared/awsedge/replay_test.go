package awsedge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"
)

// call is one HTTP request the SDK sent, reduced to what tests assert on.
type call struct {
	Op     string // operation name, whatever the protocol
	Target string // X-Amz-Target, when present
	Path   string
	Header http.Header
	Body   []byte
	Form   url.Values // query-protocol bodies (SNS, STS)
}

// JSON decodes a JSON request body.
func (c call) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.Body, &m); err != nil {
		t.Fatalf("%s: request body is not JSON: %v: %s", c.Op, err, c.Body)
	}
	return m
}

// CBOR decodes an rpcv2-CBOR request body (CloudWatch).
func (c call) CBOR(t *testing.T) cbor.Map {
	t.Helper()
	if len(c.Body) == 0 {
		return cbor.Map{}
	}
	v, err := cbor.Decode(c.Body)
	if err != nil {
		t.Fatalf("%s: request body is not CBOR: %v", c.Op, err)
	}
	m, ok := v.(cbor.Map)
	if !ok {
		t.Fatalf("%s: CBOR body is %T", c.Op, v)
	}
	return m
}

// replay is an HTTP client that answers the SDK from a handler instead of
// the network, so the SDK's real serializers and deserializers run.
type replay struct {
	mu     sync.Mutex
	calls  []call
	handle func(c call) *http.Response
}

func (r *replay) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	c := call{Target: req.Header.Get("X-Amz-Target"), Path: req.URL.Path, Header: req.Header.Clone(), Body: body}
	switch {
	case c.Target != "":
		c.Op = c.Target[strings.LastIndex(c.Target, ".")+1:]
	case strings.Contains(c.Path, "/operation/"):
		c.Op = c.Path[strings.LastIndex(c.Path, "/")+1:]
	case c.Path == "/findings/import":
		c.Op = "BatchImportFindings"
	default:
		c.Form, _ = url.ParseQuery(string(body))
		c.Op = c.Form.Get("Action")
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	resp := r.handle(c)
	resp.Request = req
	return resp, nil
}

func (r *replay) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *replay) Ops() []string {
	var ops []string
	for _, c := range r.Calls() {
		ops = append(ops, c.Op)
	}
	return ops
}

func response(status int, contentType string, body []byte, extra ...string) *http.Response {
	h := http.Header{"Content-Type": {contentType}, "X-Amzn-Requestid": {"req-1"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
}

// jsonOK answers an awsJson 1.1 operation (KMS, EventBridge, Config).
func jsonOK(v any) *http.Response {
	b, _ := json.Marshal(v)
	return response(200, "application/x-amz-json-1.1", b)
}

// jsonErr answers an awsJson error with the given code at the given status.
func jsonErr(status int, code, msg string) *http.Response {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	return response(status, "application/x-amz-json-1.1", b)
}

// restJSONOK answers a restJson operation (Security Hub).
func restJSONOK(v any) *http.Response {
	b, _ := json.Marshal(v)
	return response(200, "application/json", b)
}

// queryOK answers a query-protocol operation (SNS, STS) with result XML.
func queryOK(op, ns, result string) *http.Response {
	body := `<` + op + `Response xmlns="` + ns + `"><` + op + `Result>` + result + `</` + op + `Result>` +
		`<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></` + op + `Response>`
	return response(200, "text/xml", []byte(body))
}

const (
	snsNS = "http://sns.amazonaws.com/doc/2010-03-31/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// queryErr answers a query-protocol error.
func queryErr(status int, code, msg string) *http.Response {
	body := `<ErrorResponse><Error><Type>Sender</Type><Code>` + code + `</Code><Message>` + msg +
		`</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`
	return response(status, "text/xml", []byte(body))
}

// cborOK answers an rpcv2-CBOR operation (CloudWatch).
func cborOK(v cbor.Map) *http.Response {
	return response(200, "application/cbor", cbor.Encode(v), "Smithy-Protocol", "rpc-v2-cbor")
}

// newTestEdge loads an Edge whose every request goes to handle; the
// environment is made hermetic (no shared config, no endpoint variables).
func newTestEdge(t *testing.T, opts Options, handle func(c call) *http.Response) (*Edge, *replay) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
	t.Setenv("AWS_ENDPOINT_URL_SNS", "")
	r := &replay{handle: handle}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	opts.HTTPClient = r
	e, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}
