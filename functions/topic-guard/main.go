// Command topic-guard is the topic-guard Lambda function (provided.al2023, arm64): wiring only;
// the engine is shared/guard.
package main

import "github.com/snskeyguard/snskeyguard/shared/function"

func main() { function.Main("topic-guard", function.TopicGuard) }
