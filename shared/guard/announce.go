package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/policy"
)

// publishAttempts is how many times one alert is published before the
// invocation gives up on it, on top of the SDK's own retries of each call
// (which stop at the SDK's retry budget and do not retry every error the
// alert topic can answer, such as a KMS fault of an encrypted alert topic).
// Back-off doubles from publishBackoff: 0.2 s + 0.4 s + 0.8 s in all, small
// beside the function's timeout.
const (
	publishAttempts = 4
	publishBackoff  = 200 * time.Millisecond
)

// AnnouncementID names an applied write and every alert announcing it:
// the resource, and the meaning (policy.Document.Digest) of its state before
// and after. A retry that finds the same write in place re-sends with the
// same ID, so a duplicate is recognisable; the digests never carry policy
// text.
func AnnouncementID(resource, before, after string) string {
	h := sha256.Sum256([]byte(resource + "\n" + before + "\n" + after))
	return hex.EncodeToString(h[:12])
}

// policyDigest is the digest of a policy's meaning ("unparseable" if it does
// not parse: such a policy is never written by the guard).
func policyDigest(doc *policy.Document, raw []byte) string {
	if doc == nil || !doc.ParsedFrom(raw) {
		d, err := policy.Parse(raw)
		if err != nil {
			return "unparseable"
		}
		doc = d
	}
	return doc.Digest()
}

// UnannouncedError fails an invocation whose write was applied but whose
// announcement could not be published after every attempt. It is retryable
// (EventBridge's and Lambda's retries run the event again), and it carries
// the announcements themselves: the template's on-failure destination (the
// dead-letter queue) receives an invocation record with the request and the
// response, that is the event and this error's message, so the announcement
// outlives the invocation even if every retry fails ("The invocation record
// contains details about the request and response in JSON format";
// a plain dead-letter queue would keep only the event:
// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
type UnannouncedError struct {
	Announcements []Announcement
	Err           error
}

// Announcement is an alert that must reach the alert topic.
type Announcement struct {
	ID      string            `json:"announcementId"`
	Subject string            `json:"subject"`
	Body    string            `json:"message"`
	Attrs   map[string]string `json:"attributes"`
}

// maxCarried bounds the message bodies carried in the error (Lambda keeps
// the error message in the on-failure record; the ID and subject are always
// carried whole).
const maxCarried = 16 << 10

func (e *UnannouncedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "retryable AWS fault: %d applied change(s) not announced: %v", len(e.Announcements), e.Err)
	left := maxCarried
	for _, a := range e.Announcements {
		fmt.Fprintf(&b, "\nannouncement %s: %s", a.ID, a.Subject)
		if len(a.Body) <= left {
			b.WriteString("\n" + a.Body)
			left -= len(a.Body)
		}
	}
	return b.String()
}

// Unwrap makes an UnannouncedError a RetryableError too.
func (e *UnannouncedError) Unwrap() error { return &RetryableError{Err: e.Err} }

// publish sends one alert to ALERT_TOPIC_ARN, retrying a failed Publish with
// back-off inside the invocation. It returns the last error.
func (s *session) publish(ctx context.Context, a Announcement) error {
	central, err := s.alertAccount(ctx)
	if err != nil {
		return err
	}
	wait := publishBackoff
	for attempt := 1; ; attempt++ {
		err = central.Publish(ctx, s.g.Settings.AlertTopicARN, a.Subject, a.Body, a.Attrs)
		if err == nil || attempt >= publishAttempts || ctx.Err() != nil {
			return err
		}
		s.g.log().Warn("publish alert failed; retrying", "announcementId", a.ID, "attempt", attempt, "error", err)
		if err := s.g.sleep(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

func (g *Guard) sleep(ctx context.Context, d time.Duration) error {
	if g.Sleep != nil {
		return g.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
