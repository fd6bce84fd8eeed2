// Command config-rule is the config-rule Lambda function (provided.al2023, arm64): wiring only;
// the engine is shared/guard.
package main

import "github.com/snskeyguard/snskeyguard/shared/function"

func main() { function.Main("config-rule", function.ConfigRule) }
