package onboarding

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
)

// MaxBindsPerSessionLifetime bounds how many logins can bind one consumer
// cluster while their sessions last: each bind issues a credential.
const MaxBindsPerSessionLifetime = 20

// Why a bind is refused before a credential is issued.
var (
	// ErrClusterKey: the cluster namespace belongs to a cluster that
	// showed another key, so the request did not come from kubectl bind
	// on that cluster (a crafted link, or another cluster claiming its
	// ID).
	ErrClusterKey = errors.New("this cluster was first bound with another cluster key")
	// ErrClusterKeyRequired: the cluster is bound with Bindery's kubectl
	// bind, and a client without a cluster key (kube-bind's) tried to bind
	// it.
	ErrClusterKeyRequired = errors.New("this cluster is bound with Bindery's kubectl bind, which shows a cluster key; this client shows none")
	// ErrSessionUsed: the login session has already bound once.
	ErrSessionUsed = errors.New("this login has already bound")
	// ErrTooManyBinds: too many binds of this cluster within a session
	// lifetime.
	ErrTooManyBinds = fmt.Errorf("more than %d binds of this cluster within a login's lifetime", MaxBindsPerSessionLifetime)
)

// A Bind is one login's bind of a consumer cluster.
type Bind struct {
	// SessionID is the CLI's login session.
	SessionID string
	// ClusterKey is the key the CLI showed (bindprotocol.ClusterKey); empty
	// for kube-bind's CLI.
	ClusterKey string
	// Name and Groups are the user's at this login; they are recorded for
	// the allow-list checks before renewals.
	Name   string
	Groups []string
	// Until is when the session expires; the record of its bind is kept
	// until then.
	Until time.Time
	// Now is the current time.
	Now time.Time
}

// CheckClusterKey refuses, without writing anything, a bind whose cluster
// key does not match the one the cluster namespace recorded, and says
// whether the namespace exists. A namespace that does not exist yet, or
// has no key, accepts any; so does one with nothing bound, which has
// nothing to protect (a cluster that uninstalled kubectl bind's objects,
// its key with them, binds again with a new key).
func CheckClusterKey(ctx context.Context, c client.Client, namespace, key string) (exists bool, err error) {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	_, err = checkKey(ctx, c, ns, key)
	return true, err
}

// checkKey checks key against the one ns recorded, and says whether key
// is to be recorded: when none is, or nothing is bound (a new key).
func checkKey(ctx context.Context, c client.Client, ns *corev1.Namespace, key string) (record bool, err error) {
	recorded := ns.Annotations[consumer.ClusterKeyAnnotation]
	if recorded == "" {
		return key != "", nil
	}
	if key != "" && subtle.ConstantTimeCompare([]byte(recorded), []byte(hash(key))) == 1 {
		return false, nil
	}
	bound, err := Bound(ctx, c, ns.Name)
	if err != nil || !bound {
		return key != "", err
	}
	if key == "" {
		return false, ErrClusterKeyRequired
	}
	return false, ErrClusterKey
}

// Bound reports whether a cluster namespace holds an export or an export
// request: something of the consumer's is bound there.
func Bound(ctx context.Context, c client.Client, namespace string) (bool, error) {
	exports := &kubebindv1alpha1.APIServiceExportList{}
	if err := c.List(ctx, exports, client.InNamespace(namespace), client.Limit(1)); err != nil {
		return false, fmt.Errorf("listing the exports of %s: %w", namespace, err)
	}
	requests := &kubebindv1alpha1.APIServiceExportRequestList{}
	if err := c.List(ctx, requests, client.InNamespace(namespace), client.Limit(1)); err != nil {
		return false, fmt.Errorf("listing the export requests of %s: %w", namespace, err)
	}
	return len(exports.Items)+len(requests.Items) > 0, nil
}

// RecordBind records b on the consumer's cluster namespace, which Ensure
// has created: the cluster key the first time one is shown, the user's
// name and groups, and the session, which then cannot bind again. It refuses a session that has
// already bound, a key that does not match, and more than
// MaxBindsPerSessionLifetime binds at once. The update is conditional on
// the namespace's resourceVersion, so two replicas cannot both accept the
// same session.
func RecordBind(ctx context.Context, c client.Client, namespace string, b Bind) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
			return fmt.Errorf("reading namespace %s: %w", namespace, err)
		}
		recordKey, err := checkKey(ctx, c, ns, b.ClusterKey)
		if err != nil {
			return err
		}
		sessions := map[string]int64{}
		if raw := ns.Annotations[consumer.BoundSessionsAnnotation]; raw != "" {
			// A malformed record is dropped: it only ever holds what
			// this function wrote, and expired entries are dropped anyway.
			_ = json.Unmarshal([]byte(raw), &sessions)
		}
		for id, until := range sessions {
			if until < b.Now.Unix() {
				delete(sessions, id)
			}
		}
		id := hash(b.SessionID)[:32]
		if _, used := sessions[id]; used {
			return ErrSessionUsed
		}
		if len(sessions) >= MaxBindsPerSessionLifetime {
			return ErrTooManyBinds
		}
		sessions[id] = b.Until.Unix()
		raw, err := json.Marshal(sessions)
		if err != nil {
			return err
		}
		if ns.Annotations == nil {
			ns.Annotations = map[string]string{}
		}
		ns.Annotations[consumer.BoundSessionsAnnotation] = string(raw)
		groups, err := json.Marshal(b.Groups)
		if err != nil {
			return err
		}
		ns.Annotations[consumer.NameAnnotation] = b.Name
		ns.Annotations[consumer.GroupsAnnotation] = string(groups)
		if recordKey {
			ns.Annotations[consumer.ClusterKeyAnnotation] = hash(b.ClusterKey)
		}
		if err := c.Update(ctx, ns); err != nil {
			return fmt.Errorf("recording the bind on namespace %s: %w", namespace, err)
		}
		return nil
	})
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
