package awsedge

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"
)

func list(s ...string) cbor.List {
	l := cbor.List{}
	for _, v := range s {
		l = append(l, cbor.String(v))
	}
	return l
}

func TestAlarmTopicsAllPagesAllActions(t *testing.T) {
	const (
		orders  = "arn:aws:sns:us-east-1:111122223333:orders"
		billing = "arn:aws:sns:us-east-1:111122223333:billing"
		a1      = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:cpu"
		a2      = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:disk"
		a3      = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:composite"
	)
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		if c.Op != "DescribeAlarms" {
			t.Fatalf("op %s", c.Op)
		}
		if c.CBOR(t)["NextToken"] == nil {
			return cborOK(cbor.Map{
				"MetricAlarms": cbor.List{
					cbor.Map{"AlarmArn": cbor.String(a1), "AlarmName": cbor.String("cpu"),
						"AlarmActions": list(orders, "arn:aws:autoscaling:us-east-1:111122223333:scalingPolicy:x"),
						"OKActions":    list(billing)},
				},
				"NextToken": cbor.String("p2"),
			})
		}
		return cborOK(cbor.Map{
			"MetricAlarms": cbor.List{
				cbor.Map{"AlarmArn": cbor.String(a2), "AlarmName": cbor.String("disk"),
					"InsufficientDataActions": list(orders), "AlarmActions": list(orders)},
			},
			"CompositeAlarms": cbor.List{
				cbor.Map{"AlarmArn": cbor.String(a3), "AlarmName": cbor.String("composite"), "AlarmActions": list(orders)},
			},
		})
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.AlarmTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{orders: {a3, a1, a2}, billing: {a1}} // sorted, no duplicates
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	first := r.Calls()[0].CBOR(t)
	if first["MaxRecords"] == nil || !reflect.DeepEqual(first["AlarmTypes"], list("MetricAlarm", "CompositeAlarm")) {
		t.Fatalf("first request %v", first)
	}
	if c := e.Calls(); !reflect.DeepEqual(c, map[string]int{"CloudWatch.DescribeAlarms": 2}) {
		t.Fatalf("calls %v", c)
	}
}

func TestRuleTopicsEveryBusAllPages(t *testing.T) {
	const (
		orders = "arn:aws:sns:us-east-1:111122223333:orders"
		audit  = "arn:aws:sns:us-east-1:111122223333:audit"
		r1     = "arn:aws:events:us-east-1:111122223333:rule/r1"
		r2     = "arn:aws:events:us-east-1:111122223333:rule/r2"
		r3     = "arn:aws:events:us-east-1:111122223333:rule/custom/r3"
	)
	e, r := newTestEdge(t, Options{}, func(c call) *http.Response {
		b := c.JSON(t)
		switch c.Op {
		case "ListEventBuses":
			return jsonOK(map[string]any{"EventBuses": []any{map[string]any{"Name": "default"}, map[string]any{"Name": "custom"}}})
		case "ListRules":
			switch {
			case b["EventBusName"] == "default" && b["NextToken"] == nil:
				return jsonOK(map[string]any{"Rules": []any{map[string]any{"Name": "r1", "Arn": r1}}, "NextToken": "n2"})
			case b["EventBusName"] == "default":
				return jsonOK(map[string]any{"Rules": []any{map[string]any{"Name": "r2", "Arn": r2}}})
			case b["EventBusName"] == "custom":
				return jsonOK(map[string]any{"Rules": []any{map[string]any{"Name": "r3", "Arn": r3}}})
			}
		case "ListTargetsByRule":
			switch b["Rule"] {
			case "r1":
				return jsonOK(map[string]any{"Targets": []any{
					map[string]any{"Id": "1", "Arn": orders},
					map[string]any{"Id": "2", "Arn": "arn:aws:sqs:us-east-1:111122223333:q"},
				}})
			case "r2":
				return jsonOK(map[string]any{"Targets": []any{map[string]any{"Id": "1", "Arn": "arn:aws:lambda:us-east-1:111122223333:function:f"}}})
			case "r3":
				if b["EventBusName"] != "custom" {
					t.Errorf("r3 listed on bus %v", b["EventBusName"])
				}
				return jsonOK(map[string]any{"Targets": []any{map[string]any{"Id": "1", "Arn": orders}, map[string]any{"Id": "2", "Arn": audit}}})
			}
		}
		t.Errorf("unexpected %s %s", c.Op, c.Body)
		return jsonErr(400, "ValidationException", "unexpected")
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.RuleTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{orders: {r3, r1}, audit: {r3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	wantCalls := map[string]int{"EventBridge.ListEventBuses": 1, "EventBridge.ListRules": 3, "EventBridge.ListTargetsByRule": 3}
	if c := e.Calls(); !reflect.DeepEqual(c, wantCalls) || len(r.Calls()) != 7 {
		t.Fatalf("calls %v", c)
	}
}

func TestRuleTopicsFailsOnTargetError(t *testing.T) {
	e, _ := newTestEdge(t, Options{MaxAttempts: 1}, func(c call) *http.Response {
		switch c.Op {
		case "ListEventBuses":
			return jsonOK(map[string]any{"EventBuses": []any{map[string]any{"Name": "default"}}})
		case "ListRules":
			return jsonOK(map[string]any{"Rules": []any{map[string]any{"Name": "r1", "Arn": "arn:aws:events:us-east-1:1:rule/r1"}}})
		}
		return jsonErr(400, "AccessDeniedException", "no")
	})
	a, _ := e.Account(context.Background(), "")
	got, err := a.RuleTopics(context.Background())
	if got != nil || Classify(err) != AccessDenied {
		t.Fatalf("%v %v", got, err)
	}
}
