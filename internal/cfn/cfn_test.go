package cfn

import (
	"encoding/json"
	"strings"
	"testing"
)

const fixture = `
Parameters:
  Env: {Type: String, Default: prod, AllowedValues: [prod, test]}
  Arns: {Type: CommaDelimitedList, Default: "a,b"}
Mappings:
  Sizes: {prod: {Memory: 512}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Role:
    Type: AWS::IAM::Role
  Named:
    Type: AWS::IAM::Role
    Properties: {RoleName: !Sub "${AWS::StackName}-named"}
  Topic:
    Type: AWS::SNS::Topic
  Key:
    Type: AWS::KMS::Key
  Queue:
    Type: AWS::SQS::Queue
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /aws/lambda/x}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-fn"
      Events:
        Changes: {Type: EventBridgeRule}
  Probe:
    Type: AWS::SNS::Topic
    Properties:
      Values:
        - !Sub "arn:${AWS::Partition}:sns:*:${AWS::AccountId}:*"
        - !Sub ["${Name}-${!Literal}", {Name: !Ref Env}]
        - !GetAtt Role.Arn
        - !Ref Named
        - !Ref Topic
        - !GetAtt Key.Arn
        - !GetAtt Queue.Arn
        - !GetAtt Logs.Arn
        - !GetAtt Fn.Arn
        - !GetAtt FnChanges.Arn
        - !Join [",", [!Ref Env, !If [IsProd, p, t]]]
        - !Select [1, !Split [",", "x,y,z"]]
        - !If [IsProd, !Ref AWS::NoValue, kept]
        - !Ref Arns
        - !FindInMap [Sizes, !Ref Env, Memory]
`

func TestDeploymentResolvesEverything(t *testing.T) {
	tpl, err := Read([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(tpl, nil, &Deployment{AccountID: "111122223333", Region: "eu-west-1", StackName: "st",
		Physical: map[string]Physical{"Key": {Ref: "k-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := s.Resource("Probe")
	if !ok {
		t.Fatal("Probe not created")
	}
	got, _ := json.Marshal(Obj(r["Properties"])["Values"])
	want := `["arn:aws:sns:*:111122223333:*","prod-${Literal}","arn:aws:iam::111122223333:role/st-Role","st-named",` +
		`"arn:aws:sns:eu-west-1:111122223333:st-Topic","arn:aws:kms:eu-west-1:111122223333:key/k-1",` +
		`"arn:aws:sqs:eu-west-1:111122223333:st-Queue","arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/x:*",` +
		`"arn:aws:lambda:eu-west-1:111122223333:function:st-fn","arn:aws:events:eu-west-1:111122223333:rule/st-FnChanges",` +
		`"prod,p","y",["a","b"],512]`
	if string(got) != want {
		t.Errorf("resolved\n%s\nwant\n%s", got, want)
	}
	if err := s.Err(); err != nil {
		t.Error(err)
	}
}

func TestWithoutDeploymentKeepsWhatOnlyADeploymentKnows(t *testing.T) {
	tpl, _ := Read([]byte(fixture))
	s, err := New(tpl, map[string]string{"Env": "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Resource("Probe")
	got, _ := json.Marshal(Obj(r["Properties"])["Values"])
	for _, w := range []string{`{"Fn::Sub":"arn:${AWS::Partition}:sns:*:${AWS::AccountId}:*"}`, `{"Fn::GetAtt":"Role.Arn"}`,
		`{"Ref":"Named"}`, `"kept"`, `["a","b"]`} {
		if !strings.Contains(string(got), w) {
			t.Errorf("%s lacks %s", got, w)
		}
	}
}

func TestNewRefusesWhatCloudFormationRefuses(t *testing.T) {
	tpl, _ := Read([]byte(fixture))
	for _, o := range []map[string]string{{"Env": "dev"}, {"Nope": "x"}} {
		if _, err := New(tpl, o, nil); err == nil {
			t.Errorf("override %v accepted", o)
		}
	}
	s, _ := New(tpl, nil, &Deployment{AccountID: "1", Region: "r", StackName: "s"})
	s.Eval(map[string]any{"Fn::GetAtt": []any{"Missing", "Arn"}})
	if s.Err() == nil {
		t.Error("a GetAtt of an unknown resource resolved without error")
	}
	s, _ = New(tpl, nil, &Deployment{AccountID: "1", Region: "r", StackName: "s"})
	s.Eval(map[string]any{"Fn::GetAZs": "r"})
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "Fn::GetAZs") {
		t.Errorf("an unsupported function resolved: %v", s.Err())
	}
}
