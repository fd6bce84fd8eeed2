package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
)

// MaxFindingsPerImport is BatchImportFindings' limit per call.
const MaxFindingsPerImport = 100

// asffRequired are the top-level fields AWS Security Hub requires in an
// imported finding; a finding without one fails alone (in FailedFindings),
// the call does not.
var asffRequired = []string{"AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn",
	"Resources", "SchemaVersion", "Title", "UpdatedAt"}

// FakeSecurityHub serves BatchImportFindings (REST-JSON, POST
// /findings/import) and records the findings by Id, so a re-import with the
// same Id updates instead of adding, as in Security Hub.
type FakeSecurityHub struct {
	// URL is the endpoint (AWS_ENDPOINT_URL_SECURITYHUB).
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	imports  [][]json.RawMessage
	findings map[string]json.RawMessage
}

// NewFakeSecurityHub starts the fake on a loopback port; Close stops it.
func NewFakeSecurityHub() *FakeSecurityHub {
	f := &FakeSecurityHub{findings: map[string]json.RawMessage{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// NewFakeSecurityHubAt starts the fake on addr (host:port), for a local run that other
// processes connect to; URL names 127.0.0.1 and the port.
func NewFakeSecurityHubAt(addr string) (*FakeSecurityHub, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("FakeSecurityHub on %s: %w", addr, err)
	}
	f := &FakeSecurityHub{findings: map[string]json.RawMessage{}}
	f.srv, f.URL = serveOn(l, http.HandlerFunc(f.serve))
	return f, nil
}

// NewFakeSecurityHubForTest is NewFakeSecurityHub closed when the test ends.
func NewFakeSecurityHubForTest(t testing.TB) *FakeSecurityHub {
	f := NewFakeSecurityHub()
	t.Cleanup(f.Close)
	return f
}

// Close stops the server.
func (f *FakeSecurityHub) Close() { f.srv.Close() }

// Imports returns each BatchImportFindings call's findings, in order.
func (f *FakeSecurityHub) Imports() [][]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]json.RawMessage(nil), f.imports...)
}

// Findings returns the latest version of every accepted finding, by Id.
func (f *FakeSecurityHub) Findings() map[string]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]json.RawMessage, len(f.findings))
	for k, v := range f.findings {
		out[k] = v
	}
	return out
}

// FindingIDs returns the accepted findings' ids, sorted.
func (f *FakeSecurityHub) FindingIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.findings))
	for k := range f.findings {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	return ids
}

func restJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "Code": code, "Message": msg})
}

func (f *FakeSecurityHub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || strings.TrimSuffix(r.URL.Path, "/") != "/findings/import" {
		restJSONError(w, http.StatusNotFound, "ResourceNotFoundException", "the fake serves only POST /findings/import")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		restJSONError(w, http.StatusBadRequest, "InvalidInputException", err.Error())
		return
	}
	var req struct {
		Findings []json.RawMessage
	}
	if err := json.Unmarshal(body, &req); err != nil {
		restJSONError(w, http.StatusBadRequest, "InvalidInputException", err.Error())
		return
	}
	if len(req.Findings) == 0 || len(req.Findings) > MaxFindingsPerImport {
		restJSONError(w, http.StatusBadRequest, "InvalidInputException",
			"Findings must contain between 1 and 100 items")
		return
	}
	type failed struct {
		ID           string `json:"Id"`
		ErrorCode    string `json:"ErrorCode"`
		ErrorMessage string `json:"ErrorMessage"`
	}
	fails := []failed{}
	f.mu.Lock()
	f.imports = append(f.imports, req.Findings)
	for _, raw := range req.Findings {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			fails = append(fails, failed{ErrorCode: "InvalidInput", ErrorMessage: err.Error()})
			continue
		}
		var id string
		_ = json.Unmarshal(fields["Id"], &id)
		var missing []string
		for _, k := range asffRequired {
			if _, ok := fields[k]; !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			fails = append(fails, failed{ID: id, ErrorCode: "InvalidInput",
				ErrorMessage: "Finding does not adhere to Amazon Finding Format. missing required fields: " + strings.Join(missing, ", ")})
			continue
		}
		f.findings[id] = raw
	}
	f.mu.Unlock()
	writeJSON(w, "application/json", map[string]any{
		"FailedCount": len(fails), "SuccessCount": len(req.Findings) - len(fails), "FailedFindings": fails,
	})
}
