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
	const requestID = "00000000-0000-4000-8000-1a3d0e111ed0"
	w.Header().Set("X-Amzn-Requestid", requestID)
	switch {
	case c.proto == protoQuery:
		code, ns := "AccessDenied", "https://sts.amazonaws.com/doc/2011-06-15/"
		if c.service == "sns" {
			code, ns = "AuthorizationError", "http://sns.amazonaws.com/doc/2010-03-31/"
		}
		if d.Role == "" {
			code = "InvalidClientTokenId"
		}
		var msg bytes.Buffer
		_ = xml.EscapeText(&msg, []byte(d.Message))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>`+
			`<RequestId>%s</RequestId></ErrorResponse>`, ns, code, msg.String(), requestID)
	case c.proto == protoCBOR:
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("X-Amzn-Query-Error", "AccessDenied;Sender")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(cborStringMap([][2]string{{"__type", "AccessDeniedException"}, {"message", d.Message}}))
	case c.proto == protoREST:
		b, _ := json.Marshal(map[string]string{"Message": d.Message, "Code": "AccessDeniedException"})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "AccessDeniedException")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(b)
	default:
		code := "AccessDeniedException"
		if d.Role == "" {
			code = "UnrecognizedClientException"
		}
		if c.service == "sqs" {
			// SQS is query compatible: the SDK reports the code of this header.
			q := "AccessDenied"
			if strings.HasPrefix(d.Action, "kms:") {
				q = "KMS.AccessDeniedException"
			}
			w.Header().Set("X-Amzn-Query-Error", q+";Sender")
		}
		b, _ := json.Marshal(map[string]string{"__type": code, "message": d.Message})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
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
