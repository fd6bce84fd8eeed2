package iamproxy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// deny records d and answers the call as AWS answers an access-denied error
// in the call's protocol. The message follows IAM's format, "User: <arn> is
// not authorized to perform: <action> on resource: <arn> because no
// identity-based policy allows the <action> action" (or "with an explicit
// deny in an identity-based policy"):
// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
//
// Shapes, per protocol (as each SDK's deserializer reads them):
//   - awsJson (KMS, EventBridge, Config): HTTP 400, {"__type":
//     "AccessDeniedException","message":...} (aws-sdk-go-v2 reads __type and
//     message; KMS models AccessDeniedException as a 400 client error).
//   - awsQuery SNS: HTTP 403, <ErrorResponse><Error><Type>Sender</Type><Code>
//     AuthorizationError</Code>... (SNS's AuthorizationErrorException,
//     awsQueryError "AuthorizationError", 403; "An error occurred
//     (AuthorizationError) ... is not authorized to perform: sns:...":
//     https://repost.aws/knowledge-center/sns-topics-iam-errors-subscriber).
//   - awsQuery STS: HTTP 403, Code AccessDenied ("An error occurred
//     (AccessDenied) when calling the AssumeRole operation").
//   - RPC v2 CBOR CloudWatch (query compatible): HTTP 403, header
//     x-amzn-query-error "AccessDenied;Sender", CBOR body {__type, message}:
//     the SDK (smithy-go transport/http/protocol/rpcv2) reports the query code.
//   - restJson1 Security Hub: HTTP 403, x-amzn-ErrorType AccessDeniedException,
//     {"Message":..., "Code":"AccessDeniedException"} (the AccessDeniedException
//     shape of service/securityhub/types has Message and Code).
//
// A key the proxy never handed out is answered as AWS answers an unknown
// access key: UnrecognizedClientException (JSON protocols), InvalidClientTokenId
// (query protocols, HTTP 403).
func (p *Proxy) deny(w http.ResponseWriter, c *call, d *Denial) {
	p.mu.Lock()
	p.denials = append(p.denials, *d)
	p.mu.Unlock()
	totalDenied.Add(1)
	e := awsError{requestID: "00000000-0000-4000-8000-1a3d0e111ed0", status: http.StatusForbidden, message: d.Message,
		xmlns: "https://sts.amazonaws.com/doc/2011-06-15/", queryCode: "AccessDenied",
		cborType: "AccessDeniedException", restStatus: http.StatusForbidden, restCode: "AccessDeniedException",
		jsonStatus: http.StatusBadRequest, jsonType: "AccessDeniedException"}
	if c.service == "sns" {
		e.queryCode, e.xmlns = "AuthorizationError", "http://sns.amazonaws.com/doc/2010-03-31/"
	}
	if d.Role == "" {
		e.queryCode, e.jsonType = "InvalidClientTokenId", "UnrecognizedClientException"
	}
	if c.service == "sqs" {
		// SQS is query compatible: the SDK reports the code of this header.
		e.jsonQueryCode = "AccessDenied"
		if strings.HasPrefix(d.Action, "kms:") {
			e.jsonQueryCode = "KMS.AccessDeniedException"
		}
	}
	e.write(w, c.proto)
}

// awsError is one error answer of a service, in each protocol's shape:
// query (XML ErrorResponse), RPC v2 CBOR (query compatible, so the query code
// rides in X-Amzn-Query-Error), restJson1 and awsJson.
type awsError struct {
	requestID, message string
	status             int    // query and CBOR
	xmlns, queryCode   string // query; queryCode is also CBOR's X-Amzn-Query-Error code
	cborType           string
	restStatus         int
	restCode           string
	jsonStatus         int
	jsonType           string
	jsonQueryCode      string // awsJson of a query-compatible service (SQS): X-Amzn-Query-Error
}

func (e awsError) write(w http.ResponseWriter, proto protocol) {
	w.Header().Set("X-Amzn-Requestid", e.requestID)
	switch proto {
	case protoQuery:
		var msg bytes.Buffer
		_ = xml.EscapeText(&msg, []byte(e.message))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(e.status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>`+
			`<RequestId>%s</RequestId></ErrorResponse>`, e.xmlns, e.queryCode, msg.String(), e.requestID)
	case protoCBOR:
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("X-Amzn-Query-Error", e.queryCode+";Sender")
		w.WriteHeader(e.status)
		_, _ = w.Write(cborStringMap([][2]string{{"__type", e.cborType}, {"message", e.message}}))
	case protoREST:
		b, _ := json.Marshal(map[string]string{"Message": e.message, "Code": e.restCode})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", e.restCode)
		w.WriteHeader(e.restStatus)
		_, _ = w.Write(b)
	default:
		if e.jsonQueryCode != "" {
			w.Header().Set("X-Amzn-Query-Error", e.jsonQueryCode+";Sender")
		}
		b, _ := json.Marshal(map[string]string{"__type": e.jsonType, "message": e.message})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(e.jsonStatus)
		_, _ = w.Write(b)
	}
}

// cborStringMap encodes a map of text strings (RFC 8949 major types 5 and 3).
func cborStringMap(pairs [][2]string) []byte {
	var b bytes.Buffer
	head := func(major byte, n int) {
		switch {
		case n < 24:
			b.WriteByte(major<<5 | byte(n))
		case n < 256:
			b.WriteByte(major<<5 | 24)
			b.WriteByte(byte(n))
		case n < 65536:
			b.WriteByte(major<<5 | 25)
			_ = binary.Write(&b, binary.BigEndian, uint16(n))
		default:
			b.WriteByte(major<<5 | 26)
			_ = binary.Write(&b, binary.BigEndian, uint32(n))
		}
	}
	head(5, len(pairs))
	for _, kv := range pairs {
		for _, s := range kv {
			head(3, len(s))
			b.WriteString(s)
		}
	}
	return b.Bytes()
}
