// Package template holds the checks of the SAM application (template.yaml and
// samconfig.toml at the module root). It has no product code: its tests load the
// template the way SAM and CloudFormation read it and hold it to docs/DESIGN.md: every
// function builds from its own folder through the Makefile, every setting is a
// parameter, the EventBridge rules accept exactly the successful calls the functions
// handle, IAM grants only an allow-list of actions (writes only in remediate mode),
// and everything the stack stores is encrypted with its own customer managed key.
// In organization mode they also parse the StackSet's inline member template and hold
// its role to the same allow-list, its trust to the central roles within the
// organization, and its forwarding rules to the central rules' patterns.
//
// The tests carry a small EventBridge event-pattern matcher because neither kumo nor
// local-kms implements TestEventPattern; the matcher has its own unit tests.
package template
