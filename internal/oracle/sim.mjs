// sim.mjs: the IAM oracle process. It evaluates KMS key policies with
// @cloud-copilot/iam-simulate (an evaluator written independently of this
// repository's engine), one request per input line, for as long as stdin is
// open, so that the Go tests pay node's start-up once.
//
// Usage: node sim.mjs <node_modules directory>
//
// Protocol: one JSON object per input line, one JSON object per output line,
// in the same order.
//   {"op":"load","ref":"p1","policy":{...}}
//       -> {"ok":true} or {"errors":["..."]}   validates and caches a key policy
//   {"op":"eval","ref":"p1","principal":"cloudwatch.amazonaws.com",
//    "action":"kms:Decrypt","resource":"arn:aws:kms:...","resourceAccount":"111122223333",
//    "context":{"aws:SourceAccount":"111122223333","kms:EncryptionContextKeys":["aws:sns:topicArn"]},
//    "identityAllowAll":false}
//       -> {"decision":"Allowed"|"ExplicitlyDenied"|"ImplicitlyDenied"} or {"error":"..."}
//   {"op":"evalMany","ref":"p1","requests":[{...as eval...}, ...]}
//       -> {"decisions":["Allowed", ...]} or {"error":"..."}   one line for many requests
//   {"op":"reset"} -> {"ok":true}                    forgets every cached policy
//
// The key policy is the resource policy; there are no SCPs or RCPs (the
// default RCPFullAWSAccess is applied by the library). identityAllowAll gives
// an AWS principal an identity policy allowing everything, so that what the
// key policy delegates to IAM shows as allowed: the worst case a key policy
// must be judged by. Service principals have no identity policies.
//
// Requests are evaluated with runUnsafeSimulation: the checked entry point
// (runSimulation) drops context keys its action tables do not list, and it
// drops kms:EncryptionContext:<key> (a key whose variable part contains ':'),
// which SNS always sends. The policy itself is still validated once, at load.
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'

const modules = process.argv[2]
if (!modules) {
  process.stderr.write('usage: node sim.mjs <node_modules directory>\n')
  process.exit(2)
}
const require = createRequire(resolve(modules, 'oracle-loader.js'))
const sim = require('@cloud-copilot/iam-simulate')
const pol = require('@cloud-copilot/iam-policy')

const allowAll = {
  name: 'identity-allow-all',
  policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }
}

const policies = new Map()

function handle(msg) {
  switch (msg.op) {
    case 'load': {
      const vp = pol.createValidatedPolicy(msg.policy, pol.validateResourcePolicy, { name: 'key-policy' })
      if (vp.errors.length > 0) {
        policies.delete(msg.ref)
        return { errors: vp.errors.map((e) => (e.path ? e.path + ': ' : '') + e.message) }
      }
      policies.set(msg.ref, vp)
      return { ok: true }
    }
    case 'eval': {
      const vp = policies.get(msg.ref)
      if (!vp) {
        return { error: 'no policy loaded as ' + JSON.stringify(msg.ref) }
      }
      return { decision: evaluate(vp, msg) }
    }
    case 'evalMany': {
      const vp = policies.get(msg.ref)
      if (!vp) {
        return { error: 'no policy loaded as ' + JSON.stringify(msg.ref) }
      }
      return { decisions: msg.requests.map((r) => evaluate(vp, r)) }
    }
    case 'reset':
      policies.clear()
      return { ok: true }
  }
  return { error: 'unknown op ' + JSON.stringify(msg.op) }
}

function evaluate(vp, req) {
  return sim.runUnsafeSimulation(
    {
      request: {
        principal: req.principal,
        action: req.action,
        resource: { resource: req.resource, accountId: req.resourceAccount },
        contextVariables: req.context || {}
      },
      identityPolicies: req.identityAllowAll ? [allowAll] : [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: vp
    },
    {}
  )
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  let out
  try {
    out = handle(JSON.parse(line))
  } catch (err) {
    out = { error: String(err && err.message ? err.message : err) }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
})
