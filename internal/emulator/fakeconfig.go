package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AWS Config's limits that PutEvaluations enforces (API reference).
const (
	MaxEvaluationsPerCall = 100
	MaxAnnotationLength   = 256
)

// Evaluation is one evaluation as AWS Config's PutEvaluations receives it.
type Evaluation struct {
	ComplianceResourceType string  `json:"ComplianceResourceType"`
	ComplianceResourceID   string  `json:"ComplianceResourceId"`
	ComplianceType         string  `json:"ComplianceType"`
	Annotation             *string `json:"Annotation,omitempty"`
	// OrderingTimestamp is epoch seconds, as the JSON 1.1 protocol sends it.
	OrderingTimestamp float64 `json:"OrderingTimestamp"`
}

// PutEvaluationsCall is one PutEvaluations request, accepted or not.
type PutEvaluationsCall struct {
	ResultToken string       `json:"ResultToken"`
	TestMode    bool         `json:"TestMode"`
	Evaluations []Evaluation `json:"Evaluations"`
	// Error is the error code answered ("" when accepted).
	Error string `json:"-"`
}

// ConfigItem is a configuration item for GetResourceConfigHistory, in the
// fields the guard reads; Configuration is the resource's configuration JSON.
type ConfigItem struct {
	ResourceType  string
	ResourceID    string
	ResourceName  string
	ARN           string
	AccountID     string
	Region        string
	Status        string // OK, ResourceDiscovered, ResourceDeleted, ...
	Configuration string
	Tags          map[string]string
	CaptureTime   time.Time
}

func (c ConfigItem) wire() map[string]any {
	m := map[string]any{
		"version": "1.3", "resourceType": c.ResourceType, "resourceId": c.ResourceID,
		"configurationItemStatus":      or(c.Status, "OK"),
		"configurationItemCaptureTime": float64(c.CaptureTime.UnixMilli()) / 1000,
		"awsRegion":                    or(c.Region, "us-east-1"), "accountId": or(c.AccountID, "111122223333"),
	}
	if c.ResourceName != "" {
		m["resourceName"] = c.ResourceName
	}
	if c.ARN != "" {
		m["arn"] = c.ARN
	}
	if c.Configuration != "" {
		m["configuration"] = c.Configuration
	}
	if c.Tags != nil {
		m["tags"] = c.Tags
	}
	return m
}

// FakeConfig is an AWS Config endpoint (JSON 1.1, X-Amz-Target
// StarlingDoveService.*) for PutEvaluations, SelectResourceConfig and
// GetResourceConfigHistory; kumo has none of them.
type FakeConfig struct {
	// URL is the endpoint (AWS_ENDPOINT_URL_CONFIG_SERVICE).
	URL string
	srv *httptest.Server

	mu          sync.Mutex
	calls       []PutEvaluationsCall
	resources   []string
	queries     []string
	history     map[string][]ConfigItem
	historyReqs int
	// topics, when set, answer the queries over AWS::SNS::Topic and
	// BatchGetResourceConfig (SetTopics).
	topics  []ConfigTopic
	byARN   map[string]int
	batches int
	rowsFor map[string][]string // topicRows by expression, built once per SetTopics
}

// ConfigTopic is an SNS topic as the fake's recorder holds it.
type ConfigTopic struct {
	ARN, KmsMasterKeyID, Policy string
	Tags                        map[string]string
	// NoPolicy records a configuration without the access policy (the
	// sweep must read it from SNS); Deleted records a deleted topic.
	NoPolicy, Deleted bool
}

// SetTopics makes the fake record topics: the queries over
// AWS::SNS::Topic (the sweep's listing, COUNT(*), the key-guard's
// "configuration.KmsMasterKeyId IN (...)") and BatchGetResourceConfig answer
// from them instead of SetResources' fixed rows.
func (f *FakeConfig) SetTopics(topics ...ConfigTopic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics = topics
	f.rowsFor = map[string][]string{}
	f.byARN = make(map[string]int, len(topics))
	for i, t := range topics {
		f.byARN[t.ARN] = i
	}
}

// BatchGetRequests counts the BatchGetResourceConfig calls received.
func (f *FakeConfig) BatchGetRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

// NewFakeConfig starts the fake on a loopback port; Close stops it.
func NewFakeConfig() *FakeConfig {
	f := &FakeConfig{history: map[string][]ConfigItem{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// NewFakeConfigAt starts the fake on addr (host:port), for a local run that other
// processes connect to; URL names 127.0.0.1 and the port.
func NewFakeConfigAt(addr string) (*FakeConfig, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("FakeConfig on %s: %w", addr, err)
	}
	f := &FakeConfig{history: map[string][]ConfigItem{}}
	f.srv, f.URL = serveOn(l, http.HandlerFunc(f.serve))
	return f, nil
}

// NewFakeConfigForTest is NewFakeConfig closed when the test ends.
func NewFakeConfigForTest(t testing.TB) *FakeConfig {
	f := NewFakeConfig()
	t.Cleanup(f.Close)
	return f
}

// Close stops the server.
func (f *FakeConfig) Close() { f.srv.Close() }

// Calls returns every PutEvaluations request received, rejected ones included.
func (f *FakeConfig) Calls() []PutEvaluationsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PutEvaluationsCall(nil), f.calls...)
}

// Evaluations returns the evaluations of the accepted, non-test-mode calls:
// what AWS Config would have stored.
func (f *FakeConfig) Evaluations() []Evaluation {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Evaluation
	for _, c := range f.calls {
		if c.Error == "" && !c.TestMode {
			out = append(out, c.Evaluations...)
		}
	}
	return out
}

// SetResources sets the rows SelectResourceConfig answers, each one JSON
// object as a string (AWS's Results format), whatever the expression.
func (f *FakeConfig) SetResources(results ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resources = append([]string(nil), results...)
}

// Queries returns the expressions SelectResourceConfig received.
func (f *FakeConfig) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

// SetHistory sets the configuration items GetResourceConfigHistory answers
// for their resource (newest first, as AWS orders them by default).
func (f *FakeConfig) SetHistory(items ...ConfigItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		k := it.ResourceType + "/" + it.ResourceID
		f.history[k] = append(f.history[k], it)
	}
}

// HistoryRequests counts GetResourceConfigHistory calls.
func (f *FakeConfig) HistoryRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.historyReqs
}

// awsJSONError answers the JSON 1.1 error shape the SDK decodes (the code
// from the X-Amzn-ErrorType header or __type).
func awsJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *FakeConfig) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", "bad request")
		return
	}
	const prefix = "StarlingDoveService."
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, prefix)
	if !ok {
		awsJSONError(w, http.StatusBadRequest, "UnknownOperationException", "unknown target "+target)
		return
	}
	switch op {
	case "PutEvaluations":
		f.putEvaluations(w, body)
	case "SelectResourceConfig":
		f.selectResourceConfig(w, body)
	case "GetResourceConfigHistory":
		f.getResourceConfigHistory(w, body)
	case "BatchGetResourceConfig":
		f.batchGetResourceConfig(w, body)
	default:
		awsJSONError(w, http.StatusBadRequest, "UnknownOperationException", "the fake does not serve "+op)
	}
}

func (f *FakeConfig) putEvaluations(w http.ResponseWriter, body []byte) {
	var c PutEvaluationsCall
	if err := json.Unmarshal(body, &c); err != nil {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	msg := validateEvaluations(c)
	f.mu.Lock()
	if msg != "" {
		c.Error = "ValidationException"
	}
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if msg != "" {
		awsJSONError(w, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	writeJSON(w, "application/x-amz-json-1.1", map[string]any{"FailedEvaluations": []any{}})
}

// validateEvaluations applies the API's constraints, with AWS's wording.
func validateEvaluations(c PutEvaluationsCall) string {
	var errs []string
	if c.ResultToken == "" {
		errs = append(errs, "Value null at 'resultToken' failed to satisfy constraint: Member must not be null")
	}
	if n := len(c.Evaluations); n > MaxEvaluationsPerCall {
		errs = append(errs, fmt.Sprintf("Value '%d items' at 'evaluations' failed to satisfy constraint: Member must have length less than or equal to %d", n, MaxEvaluationsPerCall))
	}
	for i, e := range c.Evaluations {
		at := fmt.Sprintf("'evaluations.%d.member.", i+1)
		if e.Annotation != nil && (len(*e.Annotation) < 1 || len(*e.Annotation) > MaxAnnotationLength) {
			errs = append(errs, fmt.Sprintf("Value '%s' at %sannotation' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", *e.Annotation, at, MaxAnnotationLength))
		}
		switch e.ComplianceType {
		case "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE", "INSUFFICIENT_DATA":
		default:
			errs = append(errs, fmt.Sprintf("Value '%s' at %scomplianceType' failed to satisfy constraint: Member must satisfy enum value set: [COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA]", e.ComplianceType, at))
		}
		if e.ComplianceResourceType == "" || e.ComplianceResourceID == "" {
			errs = append(errs, "Value null at "+at+"complianceResourceType/Id' failed to satisfy constraint: Member must not be null")
		}
		if e.OrderingTimestamp == 0 {
			errs = append(errs, "Value null at "+at+"orderingTimestamp' failed to satisfy constraint: Member must not be null")
		}
	}
	if len(errs) == 0 {
		return ""
	}
	return fmt.Sprintf("%d validation error(s) detected: %s", len(errs), strings.Join(errs, "; "))
}

// page slices n items by an index token, as Config's opaque tokens do.
func page(n int, token string, limit int) (start, end int, next string, err error) {
	if token != "" {
		start, err = strconv.Atoi(token)
		if err != nil || start < 0 || start > n {
			return 0, 0, "", fmt.Errorf("invalid next token")
		}
	}
	end = min(start+limit, n)
	if end < n {
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

func (f *FakeConfig) selectResourceConfig(w http.ResponseWriter, body []byte) {
	var req struct {
		Expression string
		Limit      int
		NextToken  string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if req.Expression == "" {
		awsJSONError(w, http.StatusBadRequest, "InvalidExpressionException", "empty expression")
		return
	}
	if req.Limit <= 0 || req.Limit > 100 {
		req.Limit = 100
	}
	f.mu.Lock()
	f.queries = append(f.queries, req.Expression)
	rows := f.resources
	if f.topics != nil && strings.Contains(req.Expression, "'AWS::SNS::Topic'") {
		rows = f.topicRows(req.Expression)
	}
	f.mu.Unlock()
	start, end, next, err := page(len(rows), req.NextToken, req.Limit)
	if err != nil {
		awsJSONError(w, http.StatusBadRequest, "InvalidNextTokenException", err.Error())
		return
	}
	resp := map[string]any{"Results": append([]string{}, rows[start:end]...), "QueryInfo": map[string]any{"SelectFields": []any{}}}
	if next != "" {
		resp["NextToken"] = next
	}
	writeJSON(w, "application/x-amz-json-1.1", resp)
}

func (f *FakeConfig) getResourceConfigHistory(w http.ResponseWriter, body []byte) {
	var req struct {
		ResourceType string `json:"resourceType"`
		ResourceID   string `json:"resourceId"`
		Limit        int    `json:"limit"`
		NextToken    string `json:"nextToken"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if req.Limit <= 0 || req.Limit > 100 {
		req.Limit = 10
	}
	f.mu.Lock()
	f.historyReqs++
	items, ok := f.history[req.ResourceType+"/"+req.ResourceID]
	f.mu.Unlock()
	if !ok {
		awsJSONError(w, http.StatusBadRequest, "ResourceNotDiscoveredException",
			fmt.Sprintf("Resource %s of resourceType:%s is unknown or has not been discovered", req.ResourceID, req.ResourceType))
		return
	}
	start, end, next, err := page(len(items), req.NextToken, req.Limit)
	if err != nil {
		awsJSONError(w, http.StatusBadRequest, "InvalidNextTokenException", err.Error())
		return
	}
	out := []any{}
	for _, it := range items[start:end] {
		out = append(out, it.wire())
	}
	resp := map[string]any{"configurationItems": out}
	if next != "" {
		resp["nextToken"] = next
	}
	writeJSON(w, "application/x-amz-json-1.1", resp)
}

// topicRows answers the three query shapes the functions send over
// AWS::SNS::Topic from the recorded topics (deleted ones are not current
// and are left out, as advanced queries return current state). Callers hold f.mu.
func (f *FakeConfig) topicRows(expr string) []string {
	if rows, ok := f.rowsFor[expr]; ok {
		return rows
	}
	rows := f.buildTopicRows(expr)
	f.rowsFor[expr] = rows
	return rows
}

func (f *FakeConfig) buildTopicRows(expr string) []string {
	live := make([]ConfigTopic, 0, len(f.topics))
	for _, t := range f.topics {
		if !t.Deleted {
			live = append(live, t)
		}
	}
	if strings.Contains(expr, "COUNT(*)") {
		return []string{fmt.Sprintf(`{"COUNT(*)":%d}`, len(live))}
	}
	var want map[string]bool
	if i := strings.Index(expr, "KmsMasterKeyId IN ("); i >= 0 {
		want = map[string]bool{}
		list := expr[i+len("KmsMasterKeyId IN ("):]
		list = list[:strings.Index(list, ")")]
		for _, v := range strings.Split(list, ",") {
			want[strings.Trim(strings.TrimSpace(v), "'")] = true
		}
	}
	rows := make([]string, 0, len(live))
	for _, t := range live {
		if want != nil && !want[t.KmsMasterKeyID] {
			continue
		}
		tags := make([]map[string]string, 0, len(t.Tags))
		for k, v := range t.Tags {
			tags = append(tags, map[string]string{"key": k, "value": v, "tag": k + "=" + v})
		}
		b, _ := json.Marshal(map[string]any{"arn": t.ARN, "resourceId": t.ARN, "tags": tags})
		rows = append(rows, string(b))
	}
	return rows
}

// batchGetResourceConfig answers with the current configuration item of each
// key (at most 100 keys, as Config allows), its configuration the topic's
// attributes as GetTopicAttributes names them.
// https://docs.aws.amazon.com/config/latest/APIReference/API_BatchGetResourceConfig.html
func (f *FakeConfig) batchGetResourceConfig(w http.ResponseWriter, body []byte) {
	var req struct {
		ResourceKeys []struct {
			ResourceType string `json:"resourceType"`
			ResourceID   string `json:"resourceId"`
		} `json:"resourceKeys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if n := len(req.ResourceKeys); n == 0 || n > 100 {
		awsJSONError(w, http.StatusBadRequest, "ValidationException",
			fmt.Sprintf("1 validation error detected: Value at 'resourceKeys' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1 (got %d)", n))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	items := []map[string]any{}
	for _, k := range req.ResourceKeys {
		i, ok := f.byARN[k.ResourceID]
		if !ok || k.ResourceType != "AWS::SNS::Topic" {
			continue
		}
		t := f.topics[i]
		account, region := "", ""
		if parts := strings.Split(t.ARN, ":"); len(parts) >= 6 {
			region, account = parts[3], parts[4]
		}
		conf := map[string]string{"TopicArn": t.ARN, "Owner": account}
		if t.KmsMasterKeyID != "" {
			conf["KmsMasterKeyId"] = t.KmsMasterKeyID
		}
		if !t.NoPolicy {
			conf["Policy"] = t.Policy
		}
		cb, _ := json.Marshal(conf)
		status := "OK"
		if t.Deleted {
			status = "ResourceDeleted"
		}
		items = append(items, map[string]any{"version": "1.3", "accountId": account, "awsRegion": region,
			"resourceType": "AWS::SNS::Topic", "resourceId": t.ARN, "arn": t.ARN, "resourceName": t.ARN[strings.LastIndex(t.ARN, ":")+1:],
			"configurationItemStatus": status, "configuration": string(cb)})
	}
	writeJSON(w, "application/x-amz-json-1.1", map[string]any{"baseConfigurationItems": items, "unprocessedResourceKeys": []any{}})
}

// serveOn serves h on a listener the caller opened (a fixed port for
// make run SERVE=1) and returns the server and its loopback URL.
func serveOn(l net.Listener, h http.Handler) (*httptest.Server, string) {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv, fmt.Sprintf("http://127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
}
