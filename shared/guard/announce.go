package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/snskeyguard/snskeyguard/shared/policy"
	"github.com/snskeyguard/snskeyguard/shared/trigger"
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
//
// A retry that succeeds leaves no such record, and a retry of an event that
// does not carry the policy finds the key compliant and announces nothing.
// So before the invocation fails, each announcement is written to
// ANNOUNCE_QUEUE_URL (Queued lists their ids); only when that fails too
// (QueueErr) is the error (and the function's log line of it) its one copy.
type UnannouncedError struct {
	Announcements []Announcement
	Err           error
	Queue         string   // ANNOUNCE_QUEUE_URL ("" = none configured)
	Queued        []string // ids written to Queue
	QueueErr      error    // the last failure to write one
}

// Announcement is an alert that must reach the alert topic.
type Announcement struct {
	ID      string            `json:"announcementId"`
	Subject string            `json:"subject"`
	Body    string            `json:"message"`
	Attrs   map[string]string `json:"attributes"`
}

// QueuedAnnouncement is the message written to ANNOUNCE_QUEUE_URL for an
// announcement the alert topic did not take: the announcement as it would
// have been published (the message is the alert's JSON, as a string), the
// function, the event and the invocation it came from, and why it was not
// published. Record is always "announcement", which tells it apart from the
// other messages of a shared queue (EventBridge's undelivered events,
// Lambda's on-failure records); so does the SQS message attribute
// snskeyguard=announcement.
type QueuedAnnouncement struct {
	Record string `json:"record"`
	Announcement
	Function     string `json:"function"`
	EventID      string `json:"eventId,omitempty"`
	EventName    string `json:"eventName,omitempty"`
	EventSource  string `json:"eventSource,omitempty"`
	ConfigRule   string `json:"configRule,omitempty"`
	RequestID    string `json:"requestId,omitempty"`
	PublishError string `json:"publishError"`
	// Truncated says the message was cut to fit the queue's message size.
	Truncated bool `json:"messageTruncated,omitempty"`
}

// QueuedRecord is QueuedAnnouncement.Record.
const QueuedRecord = "announcement"

// eventRef is the event an invocation handles, as a queued announcement
// names it.
type eventRef struct {
	id, name, source, rule string
}

func eventOf(req trigger.Request) eventRef {
	e := eventRef{id: req.EventID, name: req.EventName, source: req.Source}
	if req.Config != nil {
		e.rule = req.Config.RuleName
	}
	return e
}

// maxQueued bounds a queued message: SQS rejects a message larger than the
// queue's MaximumMessageSize, 262,144 bytes by default, message attributes
// included
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
// The margin leaves room for the attributes.
const maxQueued = 256<<10 - 4<<10

// maxCarried bounds the message bodies carried in the error (Lambda keeps
// the error message in the on-failure record; the ID and subject are always
// carried whole).
const maxCarried = 16 << 10

func (e *UnannouncedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "retryable AWS fault: %d applied change(s) not announced: %v", len(e.Announcements), e.Err)
	switch {
	case e.Queue != "" && len(e.Queued) == len(e.Announcements):
		fmt.Fprintf(&b, "; kept in the queue %s", e.Queue)
	case e.Queue != "":
		fmt.Fprintf(&b, "; %d of them kept in the queue %s (%s), the others not: %v", len(e.Queued), e.Queue, strings.Join(e.Queued, ", "), e.QueueErr)
	}
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
	return s.retry(ctx, "publish alert", a.ID, func() error {
		return central.Publish(ctx, s.g.Settings.AlertTopicARN, a.Subject, a.Body, a.Attrs)
	})
}

// retry runs call up to publishAttempts times with back-off.
func (s *session) retry(ctx context.Context, what, id string, call func() error) error {
	wait := publishBackoff
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || attempt >= publishAttempts || ctx.Err() != nil {
			return err
		}
		s.g.log().Warn(what+" failed; retrying", "announcementId", id, "attempt", attempt, "error", err)
		if err := s.g.sleep(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

// unannounced is the invocation's error for applied changes whose
// announcements the alert topic did not take (publishErr): each is first
// written to ANNOUNCE_QUEUE_URL, with publish's retries, so it outlives an
// invocation whose retry succeeds; the error carries them all the same.
func (s *session) unannounced(ctx context.Context, anns []Announcement, publishErr error) error {
	ue := &UnannouncedError{Announcements: anns, Err: publishErr, Queue: s.g.Settings.AnnounceQueueURL}
	if ue.Queue == "" {
		return ue
	}
	q, err := s.queueAccount(ctx)
	for _, a := range anns {
		if q != nil {
			err = s.retry(ctx, "queue announcement", a.ID, func() error { return s.enqueue(ctx, q, a, publishErr) })
		}
		if err != nil {
			ue.QueueErr = err
			s.g.log().Error("announcement not kept in the queue either: it is in this invocation's error only",
				"announcementId", a.ID, "queue", ue.Queue, "error", err)
			continue
		}
		ue.Queued = append(ue.Queued, a.ID)
		s.g.log().Warn("announcement kept in the queue", "announcementId", a.ID, "queue", ue.Queue)
	}
	return ue
}

// enqueue writes one QueuedAnnouncement.
func (s *session) enqueue(ctx context.Context, q Outputs, a Announcement, publishErr error) error {
	body, err := QueuedMessage(QueuedAnnouncement{Announcement: a, Function: s.g.Function,
		EventID: s.event.id, EventName: s.event.name, EventSource: s.event.source, ConfigRule: s.event.rule,
		RequestID: s.g.RequestID, PublishError: fmt.Sprint(publishErr)})
	if err != nil {
		return err
	}
	return q.Enqueue(ctx, s.g.Settings.AnnounceQueueURL, body,
		map[string]string{"snskeyguard": QueuedRecord, attrAnnouncementID: a.ID, "kind": a.Attrs["kind"]})
}

// QueuedMessage is the JSON of a queued announcement, its message cut
// (whole UTF-8 characters, Truncated set) when the whole would pass
// maxQueued bytes.
func QueuedMessage(m QueuedAnnouncement) (string, error) {
	m.Record = QueuedRecord
	for {
		b, err := json.Marshal(m)
		if err != nil {
			return "", err
		}
		over := len(b) - maxQueued
		if over <= 0 {
			return string(b), nil
		}
		if len(m.Body) == 0 {
			return "", fmt.Errorf("queued announcement %s: %d bytes without its message", m.ID, len(b))
		}
		// Cut the message in proportion to its share of the JSON (escaping
		// makes a byte of the message one to six bytes of JSON).
		enc, _ := json.Marshal(m.Body)
		keep := len(m.Body) * max(0, len(enc)-over) / len(enc)
		m.Body = strings.ToValidUTF8(m.Body[:min(keep, len(m.Body)-1)], "")
		m.Truncated = true
	}
}

// queueAccount is where announcements are queued: the function's own
// account, in the queue's Region.
func (s *session) queueAccount(ctx context.Context) (Outputs, error) {
	return s.ownAccount(ctx, &s.queue, QueueRegion(s.g.Settings.AnnounceQueueURL))
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

// UnconfirmedAlert is the JSON message announcing a write that may have
// been applied: its call failed without an answer (a timeout, a connection
// lost after sending) and reading the resource back failed too. Its id is
// the one the write has if it landed, so the "remediated" announcement of a
// retry that makes the same write is recognisable as the same change.
type UnconfirmedAlert struct {
	ID         string   `json:"announcementId"`
	Kind       string   `json:"kind"` // "unconfirmed"
	Mode       string   `json:"mode"`
	Resource   string   `json:"resource"`
	Action     string   `json:"action"`
	Changes    []string `json:"changes,omitempty"`
	Topics     []string `json:"topics,omitempty"`
	EventID    string   `json:"eventId,omitempty"`
	WriteError string   `json:"writeError"`
	ReadError  string   `json:"readBackError"`
}

// unconfirmed announces a write that may have landed (publish, else the
// queue and the error, as an applied change is announced), and fails the
// invocation, retryable either way: the retry makes sure of the change.
func (s *session) unconfirmed(ctx context.Context, id, resource, action string, changes, topics []string, what string, writeErr, readErr error) error {
	fault := s.g.fault(what, writeErr)
	if s.g.Settings.AlertTopicARN == "" {
		return fault
	}
	a := UnconfirmedAlert{ID: id, Kind: "unconfirmed", Mode: s.g.Settings.Mode, Resource: resource, Action: action,
		Changes: changes, Topics: topics, EventID: s.event.id, WriteError: writeErr.Error(), ReadError: readErr.Error()}
	body, _ := json.MarshalIndent(a, "", "  ")
	name := resource[strings.LastIndexAny(resource, ":/")+1:]
	ann := Announcement{ID: id, Subject: truncateSubject(fmt.Sprintf("%s %s: change possibly applied, not confirmed [%s]", action, name, id)),
		Body: string(body), Attrs: map[string]string{attrAnnouncementID: id, "kind": a.Kind, "resource": resource, "mode": a.Mode}}
	s.g.log().Error("write not confirmed: its answer and the read-back both failed", "resource", resource, "announcementId", id,
		"writeError", writeErr, "readError", readErr)
	if err := s.publish(ctx, ann); err != nil {
		return s.unannounced(ctx, []Announcement{ann}, fmt.Errorf("%s: %w; publish alert: %w", what, writeErr, err))
	}
	return fault
}
