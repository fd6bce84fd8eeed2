package oracle_test

import (
	"encoding/json"
	"math/rand/v2"

	"github.com/snskeyguard/snskeyguard/internal/oracle"
)

// The generated key policies: a seeded, deterministic stream of statements
// mutated along every axis the engine interprets (principals, actions with
// wildcards and NotAction, resources, Deny, every condition operator family
// with IfExists, negation, ForAnyValue/ForAllValues and Null, policy
// variables, both policy versions).

const genSeed = 0x5eed0f0a

type gen struct{ r *rand.Rand }

func newGen(i int) *gen {
	return &gen{r: rand.New(rand.NewPCG(genSeed, uint64(i)))}
}

func (g *gen) pick(xs ...any) any { return xs[g.r.IntN(len(xs))] }

func (g *gen) chance(n int) bool { return g.r.IntN(100) < n }

// policy returns one generated key policy.
func (g *gen) policy() map[string]any {
	doc := map[string]any{}
	switch v := g.r.IntN(20); {
	case v == 0:
		doc["Version"] = "2008-10-17"
	case v == 1:
		// no Version: IAM reads the policy as 2008-10-17
	default:
		doc["Version"] = "2012-10-17"
	}
	var stmts []any
	if g.chance(60) {
		stmts = append(stmts, map[string]any{
			"Sid": "Enable IAM User Permissions", "Effect": "Allow",
			"Principal": map[string]any{"AWS": "arn:aws:iam::" + oracle.Account + ":root"},
			"Action":    "kms:*", "Resource": "*",
		})
	}
	n := 1 + g.r.IntN(3)
	for range n {
		stmts = append(stmts, g.statement())
	}
	doc["Statement"] = stmts
	return doc
}

var services = []string{"cloudwatch.amazonaws.com", "s3.amazonaws.com", "events.amazonaws.com", "ses.amazonaws.com"}

func (g *gen) statement() map[string]any {
	s := map[string]any{}
	deny := g.chance(25)
	if deny {
		s["Effect"] = "Deny"
	} else {
		s["Effect"] = "Allow"
	}
	switch g.r.IntN(12) {
	case 0:
		s["Principal"] = "*"
	case 1:
		s["Principal"] = map[string]any{"AWS": "*"}
	case 2:
		s["Principal"] = map[string]any{"AWS": "arn:aws:iam::" + oracle.Account + ":root"}
	case 3:
		s["Principal"] = map[string]any{"Service": []any{services[g.r.IntN(len(services))], services[g.r.IntN(len(services))]}}
	case 4:
		s["Principal"] = map[string]any{"Service": services[g.r.IntN(2)], "AWS": "arn:aws:iam::" + oracle.Account + ":role/publisher"}
	case 5:
		if deny {
			s["NotPrincipal"] = map[string]any{"AWS": "arn:aws:iam::" + oracle.Account + ":root"}
		} else {
			s["Principal"] = map[string]any{"Service": "cloudwatch.amazonaws.com"}
		}
	default:
		s["Principal"] = map[string]any{"Service": services[g.r.IntN(len(services))]}
	}
	switch g.r.IntN(14) {
	case 0:
		s["Action"] = "kms:*"
	case 1:
		s["Action"] = "*"
	case 2:
		s["Action"] = "kms:GenerateDataKey"
	case 3:
		s["Action"] = "kms:Decrypt"
	case 4:
		s["Action"] = []any{"kms:Gen*", "kms:Decrypt"}
	case 5:
		s["Action"] = []any{"KMS:generatedatakey*", "kms:DECRYPT"}
	case 6:
		s["Action"] = []any{"kms:GenerateDataKey?", "kms:Decrypt"}
	case 7:
		s["NotAction"] = "kms:Encrypt"
	case 8:
		s["NotAction"] = []any{"kms:Decrypt"}
	case 9:
		s["Action"] = []any{"kms:Encrypt", "kms:ReEncrypt*"}
	case 10:
		s["Action"] = "kms:*Key*"
	default:
		s["Action"] = []any{"kms:GenerateDataKey*", "kms:Decrypt"}
	}
	switch g.r.IntN(10) {
	case 0:
		s["Resource"] = oracle.KeyARN
	case 1:
		s["Resource"] = "arn:aws:kms:us-east-1:" + oracle.Account + ":key/other-key"
	case 2:
		s["Resource"] = "arn:aws:kms:*:" + oracle.Account + ":key/*"
	case 3:
		s["NotResource"] = "arn:aws:kms:us-east-1:" + oracle.Account + ":key/other-key"
	default:
		s["Resource"] = "*"
	}
	if g.chance(80) {
		cond := map[string]any{}
		for range 1 + g.r.IntN(3) {
			op, key, vals := g.condition()
			block, _ := cond[op].(map[string]any)
			if block == nil {
				block = map[string]any{}
				cond[op] = block
			}
			block[key] = vals
		}
		s["Condition"] = cond
	}
	if g.chance(30) {
		s["Sid"] = "S" + string(rune('A'+g.r.IntN(26)))
	}
	return s
}

// condition returns an operator, a key and values that fit each other most of
// the time (and sometimes not: a string operator on a date is legal).
func (g *gen) condition() (string, string, any) {
	acct, other := oracle.Account, oracle.OtherAccount
	type kv struct {
		key  string
		vals []any
		fam  string // string, arn, bool, date, numeric, ip, set
	}
	catalog := []kv{
		{"aws:SourceAccount", []any{acct, other, "*", "????????????", "1111*", "${aws:ResourceAccount}", "${aws:PrincipalAccount}", "${aws:PrincipalOrgID}"}, "string"},
		{"aws:SourceArn", []any{"arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:*", "arn:aws:cloudwatch:*:*:alarm:*", "arn:aws:s3:::oracle-bucket-" + acct, "arn:aws:s3:::*",
			"arn:aws:*:us-east-1:" + acct + ":*", "arn:aws:cloudwatch:us-east-1:${aws:SourceAccount}:alarm:*", "arn:aws:cloudwatch:us-east-1:" + other + ":alarm:*", "arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:oracle-alarm"}, "arn"},
		{"kms:EncryptionContext:aws:sns:topicArn", []any{oracle.TopicARN, "arn:aws:sns:us-east-1:" + acct + ":*", "arn:aws:sns:us-east-1:" + acct + ":other", "arn:aws:sns:*:${aws:ResourceAccount}:*"}, "arnstr"},
		{"kms:EncryptionContextKeys", []any{"aws:sns:topicArn", "aws:sns:*", "other"}, "set"},
		{"kms:ResourceAliases", []any{"alias/orders", "alias/other", "alias/*"}, "set"},
		{"kms:ViaService", []any{"sns.us-east-1.amazonaws.com", "sns.*.amazonaws.com", "s3.us-east-1.amazonaws.com"}, "string"},
		{"aws:PrincipalIsAWSService", []any{"true", "false"}, "bool"},
		{"aws:PrincipalServiceName", []any{"cloudwatch.amazonaws.com", "s3.amazonaws.com", "*.amazonaws.com"}, "string"},
		{"kms:KeySpec", []any{"SYMMETRIC_DEFAULT", "RSA_2048"}, "string"},
		{"aws:ResourceAccount", []any{acct, other}, "string"},
		{"aws:PrincipalAccount", []any{acct}, "string"},
		{"aws:PrincipalOrgID", []any{"o-abc"}, "string"},
		{"aws:SecureTransport", []any{"true", "false"}, "bool"},
		{"aws:CurrentTime", []any{"2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z"}, "date"},
		{"aws:EpochTime", []any{"1600000000", "1900000000"}, "numeric"},
		{"aws:SourceIp", []any{"10.0.0.0/8"}, "ip"},
	}
	c := catalog[g.r.IntN(len(catalog))]
	var ops []string
	switch c.fam {
	case "string":
		ops = []string{"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "ForAnyValue:StringEquals", "ForAllValues:StringLike"}
	case "arn":
		ops = []string{"ArnLike", "ArnEquals", "ArnNotLike", "ArnNotEquals", "StringLike", "StringEquals", "ForAnyValue:ArnLike"}
	case "arnstr":
		ops = []string{"StringEquals", "StringLike", "StringNotEquals", "ArnLike", "ArnNotLike"}
	case "set":
		ops = []string{"ForAnyValue:StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringLike", "ForAllValues:StringNotLike", "ForAnyValue:StringNotEquals", "StringEquals", "StringLike"}
	case "bool":
		ops = []string{"Bool", "StringEquals"}
	case "date":
		ops = []string{"DateGreaterThan", "DateLessThan", "DateNotEquals"}
	case "numeric":
		ops = []string{"NumericGreaterThan", "NumericLessThanEquals", "NumericNotEquals"}
	case "ip":
		ops = []string{"IpAddress", "NotIpAddress"}
	}
	op := ops[g.r.IntN(len(ops))]
	switch v := g.r.IntN(10); {
	case v == 0:
		op = "Null"
	case v <= 2 && op != "Null":
		op += "IfExists"
	}
	if op == "Null" {
		return op, c.key, g.pick("true", "false")
	}
	if g.chance(50) {
		return op, c.key, c.vals[g.r.IntN(len(c.vals))]
	}
	return op, c.key, []any{c.vals[g.r.IntN(len(c.vals))], c.vals[g.r.IntN(len(c.vals))]}
}

// generated returns the i-th generated key policy as JSON.
func generated(i int) []byte {
	b, err := json.Marshal(newGen(i).policy())
	if err != nil {
		panic(err)
	}
	return b
}
