// Package iamproxy enforces IAM locally: a loopback reverse proxy in front of
// the emulators (kumo, local-kms, the Config and Security Hub fakes, which
// check no credentials) that evaluates every call a function makes against the
// permissions template.yaml gives that function's role, for the run's
// parameters, and answers a call the role does not allow exactly as AWS
// answers an access-denied error for that protocol. Each function gets its own
// access key id (Register); the proxy reads the caller from the SigV4
// Authorization header, and maps the temporary keys STS AssumeRole hands out
// to the member role the StackSet of the template creates. Evaluation uses the
// product's own shared/policy (Parse, MatchesAction, MatchesResource,
// EvalCondition). Denials are recorded for the tests to fail on.
package iamproxy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/cfn"
	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// Options configures New.
type Options struct {
	// Targets maps a SigV4 signing name ("kms", "config", "securityhub") to
	// the emulator that serves it; Default serves every other service.
	Targets map[string]string
	Default string
	// Template is template.yaml's text.
	Template []byte
	// Deployment names the emulated stack: account, region, stack name and
	// the physical identity of resources the emulator created under other
	// names (the demo's alert topic and key).
	Deployment cfn.Deployment
	// AdminKeys are access key ids of the test harness itself (seeding,
	// reading state back): forwarded unchecked.
	AdminKeys []string
	// Quotas holds the functions' calls to the services' request-rate
	// quotas (quota.go); Clock is the real clock it reads (nil: time.Now).
	Quotas QuotaMode
	Clock  func() time.Time
	// QuotaOverrides replaces the rate of some metered operations
	// (QuotaTable), to measure a sweep under other figures than the table's.
	QuotaOverrides map[string]float64
}

// Denial is one call a role was not allowed to make.
type Denial struct {
	Caller   string // the assumed-role session ARN
	Role     string // the role's ARN
	Action   string // "events:ListEventBuses"
	Resource string
	Message  string // as sent to the caller
	Policies []string
}

func (d Denial) String() string {
	return fmt.Sprintf("%s on %s denied to role %s (%s): %s", d.Action, d.Resource, d.Role, d.Caller, d.Message)
}

// identity is a caller the proxy knows by its access key id.
type identity struct {
	session string // arn:aws:sts::<acct>:assumed-role/<role>/<session>
	role    *role
	orgID   string     // the organization of the run (organization mode), else ""
	central *cfn.Stack // the central stack, to find member roles on AssumeRole
	region  string
}

// Proxy is the IAM-enforcing proxy. Point a function's AWS_ENDPOINT_URL* at
// URL and give it the credentials Register returns.
type Proxy struct {
	URL  string
	opts Options
	tpl  map[string]any
	srv  *http.Server
	ln   net.Listener
	http *http.Client

	mu      sync.Mutex
	ids     map[string]*identity
	seq     int
	checked int
	actions map[string]int // checked calls by IAM action
	denials []Denial
	taken   int

	quota *limiter
}

// Totals over every proxy of the process, for the figure the test harness
// prints (iam_calls_checked, iam_denied).
var totalChecked, totalDenied atomic.Int64

// Totals returns the calls checked and denied by every proxy of this process.
func Totals() (checked, denied int64) { return totalChecked.Load(), totalDenied.Load() }

// New parses the template and listens on a free loopback port.
func New(opts Options) (*Proxy, error) {
	tpl, err := cfn.Read(opts.Template)
	if err != nil {
		return nil, err
	}
	if opts.Default == "" {
		return nil, fmt.Errorf("iam proxy: no default target")
	}
	table, err := QuotaTable(opts.QuotaOverrides)
	if err != nil {
		return nil, fmt.Errorf("iam proxy: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), opts: opts, tpl: tpl, ln: ln, ids: map[string]*identity{}, actions: map[string]int{},
		http: &http.Client{Timeout: 2 * time.Minute}, quota: newLimiter(opts.Quotas, opts.Clock, table)}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Register gives the function deployed as "<stack>-<name>" its own access key
// id and returns it. The role is the template's for the parameters that give
// the function env (see paramsFromEnv), with params fixing the ones no
// variable shows (DeploymentMode, OrganizationId, ...).
func (p *Proxy) Register(name string, env, params map[string]string) (accessKeyID string, err error) {
	dep := p.opts.Deployment
	probe, err := cfn.New(p.tpl, params, &dep)
	if err != nil {
		return "", err
	}
	fnID, roleID, err := functionRole(probe, dep.StackName, name)
	if err != nil {
		return "", err
	}
	all, err := paramsFromEnv(p.tpl, env, params, &dep, fnID)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	st, err := cfn.New(p.tpl, all, &dep)
	if err != nil {
		return "", err
	}
	r, err := roleOf(st, roleID)
	if err != nil {
		return "", err
	}
	id := &identity{role: r, central: st, region: dep.Region,
		session: "arn:aws:sts::" + r.account + ":assumed-role/" + r.name + "/" + dep.StackName + "-" + name}
	if all["DeploymentMode"] == "organization" {
		id.orgID = all["OrganizationId"]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	key := fmt.Sprintf("AKIAIAMPROXY%08d", p.seq)
	p.ids[key] = id
	return key, nil
}

// Checked is the number of calls evaluated so far.
func (p *Proxy) Checked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checked
}

// Actions returns the checked calls so far by IAM action ("kms:DescribeKey").
func (p *Proxy) Actions() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.actions)
}

// Denials returns every denial so far.
func (p *Proxy) Denials() []Denial {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Denial(nil), p.denials...)
}

// TakeDenials returns the denials since the previous TakeDenials.
func (p *Proxy) TakeDenials() []Denial {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := append([]Denial(nil), p.denials[p.taken:]...)
	p.taken = len(p.denials)
	return out
}

var authHeader = regexp.MustCompile(`Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// call is one request, decoded enough to authorize it.
type call struct {
	service, op string
	path        string
	proto       protocol
	region      string
	form        url.Values
	body        map[string]any
	raw         []byte
}

type protocol int

const (
	protoJSON  protocol = iota // awsJson1_0/1_1: X-Amz-Target (KMS, EventBridge, Config)
	protoQuery                 // awsQuery: form Action= (SNS, STS)
	protoCBOR                  // Smithy RPC v2 CBOR: /service/<svc>/operation/<op> (CloudWatch)
	protoREST                  // restJson1 (Security Hub)
)

func decode(r *http.Request, body []byte) (*call, string) {
	c := &call{raw: body, path: r.URL.EscapedPath()}
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return c, ""
	}
	c.region, c.service = m[2], m[3]
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		t := r.Header.Get("X-Amz-Target")
		c.op, c.proto = t[strings.LastIndex(t, ".")+1:], protoJSON
		_ = json.Unmarshal(body, &c.body)
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		c.form, _ = url.ParseQuery(string(body))
		c.op, c.proto = c.form.Get("Action"), protoQuery
	case strings.Contains(r.URL.Path, "/operation/"):
		c.op, c.proto = r.URL.Path[strings.LastIndex(r.URL.Path, "/operation/")+len("/operation/"):], protoCBOR
	default:
		c.proto = protoREST
		c.op = restOperation(c.service, r.Method, r.URL.Path)
		_ = json.Unmarshal(body, &c.body)
	}
	return c, m[1]
}

// restOperation names the restJson1 operations the functions call.
func restOperation(service, method, path string) string {
	if service == "securityhub" && method == http.MethodPost && path == "/findings/import" {
		return "BatchImportFindings"
	}
	if service == "lambda" && method == http.MethodPost && strings.HasPrefix(path, "/2015-03-31/functions/") && strings.HasSuffix(path, "/invocations") {
		return "Invoke"
	}
	return method + " " + path
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	c, key := decode(r, body)
	p.mu.Lock()
	id := p.ids[key]
	p.mu.Unlock()
	admin := false
	for _, k := range p.opts.AdminKeys {
		admin = admin || k == key
	}
	if id == nil && !admin {
		// An unknown key would be refused by AWS itself; here it means a
		// function runs with credentials the proxy never handed out.
		p.deny(w, c, &Denial{Caller: "access key " + key, Action: c.service + ":" + c.op, Resource: "-",
			Message: "The security token included in the request is invalid."})
		return
	}
	if id != nil {
		if d := p.authorize(id, c); d != nil {
			p.deny(w, c, d)
			return
		}
		account, _ := policy.AccountOf(id.session)
		if !p.quota.admit(account, c.region, c.service+":"+c.op) {
			p.throttle(w, c)
			return
		}
		if c.service == "sts" && c.op == "GetCallerIdentity" {
			// kumo answers the account root for every caller; STS answers
			// the caller's own session, which is how the guard recognises
			// the events its own role caused.
			callerIdentity(w, id)
			return
		}
	}
	status, hdr, out, err := p.forward(r, c, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if id != nil && c.service == "sts" && c.op == "AssumeRole" && status == http.StatusOK {
		p.learnAssumedKey(id, c, out)
	}
	maps.Copy(w.Header(), hdr)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (p *Proxy) target(service string) string {
	if t, ok := p.opts.Targets[service]; ok && t != "" {
		return t
	}
	return p.opts.Default
}

func (p *Proxy) forward(r *http.Request, c *call, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target(c.service)+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.Header.Clone()
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, err
}

// learnAssumedKey maps the access key id an allowed AssumeRole returned to
// the role it names, so the calls made with it are evaluated as that role.
func (p *Proxy) learnAssumedKey(caller *identity, c *call, out []byte) {
	var resp struct {
		Result struct {
			Credentials struct {
				AccessKeyID string `xml:"AccessKeyId"`
			} `xml:"Credentials"`
		} `xml:"AssumeRoleResult"`
	}
	if xml.Unmarshal(out, &resp) != nil || resp.Result.Credentials.AccessKeyID == "" {
		return
	}
	roleARN := c.form.Get("RoleArn")
	account, _ := policy.AccountOf(roleARN)
	name := roleARN[strings.LastIndex(roleARN, "/")+1:]
	r, ok, err := memberRole(caller.central, account, caller.region, name)
	if err != nil || !ok {
		return // authorize refused it already; nothing to learn
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids[resp.Result.Credentials.AccessKeyID] = &identity{role: r, orgID: caller.orgID, central: caller.central, region: caller.region,
		session: "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + c.form.Get("RoleSessionName")}
}

// authorize evaluates one call; nil means allowed.
func (p *Proxy) authorize(id *identity, c *call) *Denial {
	op, ok := operations[c.service+":"+c.op]
	p.mu.Lock()
	p.checked++
	if op.action != "" {
		p.actions[op.action]++
	} else if op.free {
		p.actions[c.service+":"+c.op]++
	}
	p.mu.Unlock()
	totalChecked.Add(1)
	if !ok {
		return &Denial{Caller: id.session, Role: id.role.arn, Action: c.service + ":" + c.op, Resource: "-",
			Message: "operation not modelled by the IAM proxy (add it to operations with its Service Authorization Reference entry)"}
	}
	if op.free {
		return nil
	}
	resources, err := op.resources(p, id, c)
	if err != nil {
		return &Denial{Caller: id.session, Role: id.role.arn, Action: op.action, Resource: "-", Message: err.Error()}
	}
	for _, res := range resources {
		if res == "" {
			continue // the resource does not exist: let the emulator answer NotFound as AWS does
		}
		ctx := p.context(id, c, res)
		if d := evaluate(id, op.action, res, ctx); d != nil {
			return d
		}
		if op.action == "sts:AssumeRole" {
			if d := p.trusts(id, res, ctx); d != nil {
				return d
			}
		}
		if op.via != nil {
			if d := op.via(p, id, c, res); d != nil {
				return d
			}
		}
	}
	return nil
}

// evaluate applies IAM's rule for identity-based policies: an explicit deny
// wins, otherwise some allow must match. A condition this proxy cannot decide
// (Unknown) never allows and always denies, so a gap in the request context
// shows up as a denial instead of passing silently.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
func evaluate(id *identity, action, resource string, ctx policy.Context) *Denial {
	allowed := false
	var allowedBy []string
	for _, np := range id.role.policies {
		for _, st := range np.doc.Statements {
			if st.Principal != nil || st.NotPrincipal != nil || !st.MatchesAction(action) || !st.MatchesResource(resource) {
				continue
			}
			cond := st.EvalCondition(ctx)
			switch {
			case st.IsDeny() && cond != policy.False:
				return &Denial{Caller: id.session, Role: id.role.arn, Action: action, Resource: resource, Policies: []string{np.name},
					Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s with an explicit deny in an identity-based policy",
						id.session, action, resource)}
			case st.IsAllow() && cond == policy.True:
				allowed = true
				allowedBy = append(allowedBy, np.name)
			}
		}
	}
	if allowed {
		return nil
	}
	return &Denial{Caller: id.session, Role: id.role.arn, Action: action, Resource: resource, Policies: allowedBy,
		Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
			id.session, action, resource, action)}
}

// trusts checks the assumed role's trust policy (a resource-based policy):
// cross-account, both it and the caller's identity policy must allow.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
func (p *Proxy) trusts(id *identity, roleARN string, ctx policy.Context) *Denial {
	account, _ := policy.AccountOf(roleARN)
	name := roleARN[strings.LastIndex(roleARN, "/")+1:]
	target, ok, err := memberRole(id.central, account, id.region, name)
	deny := &Denial{Caller: id.session, Role: id.role.arn, Action: "sts:AssumeRole", Resource: roleARN,
		Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", id.session, roleARN)}
	switch {
	case err != nil:
		deny.Message += " (" + err.Error() + ")"
		return deny
	case !ok:
		deny.Policies = []string{"the template creates no role " + name + " in account " + account}
		return deny
	}
	who := policy.Identity{AWS: id.session}
	allowed := false
	for _, st := range target.trust.Statements {
		if !st.MatchesAction("sts:AssumeRole") || !st.MatchesPrincipal(who) {
			continue
		}
		cond := st.EvalCondition(ctx)
		if st.IsDeny() && cond != policy.False {
			return deny
		}
		allowed = allowed || (st.IsAllow() && cond == policy.True)
	}
	if !allowed {
		deny.Policies = []string{"trust policy of " + target.arn}
		return deny
	}
	return nil
}

// context is the request context IAM builds for the call: the global keys
// every request carries and the service keys of the action that the request
// sets. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
func (p *Proxy) context(id *identity, c *call, resource string) policy.Context {
	// The proxy sees the whole request: a key it does not set is absent.
	ctx := policy.NewContext()
	ctx.SetOthersAbsent()
	account, _ := policy.AccountOf(id.session)
	ctx.Set("aws:PrincipalArn", id.role.arn)
	ctx.Set("aws:PrincipalAccount", account)
	ctx.Set("aws:PrincipalType", "AssumedRole")
	ctx.Set("aws:RequestedRegion", c.region)
	// Lambda's SDK calls AWS over HTTPS; the loopback hop here does not.
	ctx.Set("aws:SecureTransport", "true")
	now := time.Now().UTC()
	ctx.Set("aws:CurrentTime", now.Format(time.RFC3339))
	ctx.Set("aws:EpochTime", fmt.Sprint(now.Unix()))
	if id.orgID != "" {
		// The emulated organization holds every account of the run.
		ctx.Set("aws:PrincipalOrgID", id.orgID)
	}
	if ra, _ := policy.AccountOf(resource); ra != "" {
		ctx.Set("aws:ResourceAccount", ra)
		if id.orgID != "" {
			ctx.Set("aws:ResourceOrgID", id.orgID)
		}
	}
	if c.service == "kms" {
		// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account
		ctx.Set("kms:CallerAccount", account)
		// The SDK sends BypassPolicyLockoutSafetyCheck only when true; when
		// absent the key is left out of the context (a policy must not rely
		// on it being present as false: use a Deny on true, or BoolIfExists).
		if v, ok := c.body["BypassPolicyLockoutSafetyCheck"].(bool); ok {
			ctx.Set("kms:BypassPolicyLockoutSafetyCheck", fmt.Sprint(v))
		}
	}
	return ctx
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clone(m map[string]string) map[string]string { return maps.Clone(m) }

// callerIdentity answers GetCallerIdentity as STS does for an assumed role
// (query protocol, XML): the session ARN arn:aws:sts::<account>:assumed-role/<role>/<session>,
// a role id with the session name, and the account.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
func callerIdentity(w http.ResponseWriter, id *identity) {
	account, _ := policy.AccountOf(id.session)
	session := id.session[strings.LastIndexByte(id.session, '/')+1:]
	var b strings.Builder
	b.WriteString(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>`)
	_ = xml.EscapeText(&b, []byte(id.session))
	b.WriteString(`</Arn><UserId>AROAEMULATEDROLE0001:`)
	_ = xml.EscapeText(&b, []byte(session))
	b.WriteString(`</UserId><Account>` + account + `</Account></GetCallerIdentityResult>` +
		`<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, b.String())
}
