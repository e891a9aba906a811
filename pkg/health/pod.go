package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// PodHealth is what is wrong with one pod, in words a person can act on. The controller puts
// the first problem of a component's pods into its condition; `kubeseed describe` prints
// them all.
type PodHealth struct {
	Name     string
	Phase    corev1.PodPhase
	Ready    int // ready containers
	Total    int
	Restarts int32
	// Problems are what is wrong with the pod, one line each; empty for a healthy pod.
	Problems []string
	// Reason classifies the first problem as a condition reason (Unschedulable,
	// ImagePullFailed, CrashLooping, ContainerFailing), and Cause says it with nothing that
	// changes by itself (no ages, counts or back-off delays): a condition message that
	// changed every reconcile would write status, and wake the reconciler, for ever. Empty
	// for a healthy pod.
	Reason, Cause string
	// Logs are the containers worth reading the logs of.
	Logs []LogRef
	// Describe: no container of the pod ever started (not scheduled, image pulls, config
	// errors); its events say why.
	Describe bool
}

// LogRef is a container whose logs explain a problem; Previous: read the last terminated
// instance, since the current one has not started (a crash loop).
type LogRef struct {
	Container string
	Previous  bool
}

// waitingProblems are container waiting reasons that will not go away by themselves.
var waitingProblems = []string{
	"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreStartHookError", "PostStartHookError",
}

// reasonOfWaiting maps a container's waiting reason to a condition reason.
func reasonOfWaiting(waiting string) string {
	switch waiting {
	case "CrashLoopBackOff":
		return v1alpha1.CrashLoopingReason
	case "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName":
		return v1alpha1.ImagePullFailedReason
	}
	return v1alpha1.ContainerFailingReason
}

// notReadyGrace is how long a running container may stay unready (starting up) before it
// counts as a problem.
const notReadyGrace = 30 * time.Second

// Pod looks at one pod: scheduling, each container's state and last termination.
func Pod(p *corev1.Pod, now time.Time) PodHealth {
	h := PodHealth{Name: p.Name, Phase: p.Status.Phase, Total: len(p.Spec.Containers)}
	problem := func(reason, text, cause string) {
		if h.Reason == "" {
			h.Reason, h.Cause = reason, cause
		}
		h.Problems = append(h.Problems, text)
	}
	if p.DeletionTimestamp != nil {
		problem(v1alpha1.ProgressingReason, "terminating", "terminating")
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			text := fmt.Sprintf("not scheduled (%s): %s", c.Reason, c.Message)
			problem(v1alpha1.UnschedulableReason, text, text)
			h.Describe = true
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		text := fmt.Sprintf("failed (%s): %s", p.Status.Reason, p.Status.Message)
		problem(v1alpha1.ContainerFailingReason, text, text)
	}
	statuses := slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses)
	started := false
	for _, cs := range statuses {
		if cs.Ready && !isInit(p, cs.Name) {
			h.Ready++
		}
		h.Restarts += cs.RestartCount
		text, cause, reason := "", "", v1alpha1.ContainerFailingReason
		switch w := cs.State.Waiting; {
		case w != nil && slices.Contains(waitingProblems, w.Reason):
			text, reason = fmt.Sprintf("container %s: %s", cs.Name, w.Reason), reasonOfWaiting(w.Reason)
			cause = text
			if reason == v1alpha1.ImagePullFailedReason {
				cause += " (image " + imageOf(p, cs.Name) + ")"
			}
			if w.Message != "" {
				text += ": " + firstLine(w.Message)
			}
		case cs.State.Running != nil && !cs.Ready && !isInit(p, cs.Name) && now.Sub(cs.State.Running.StartedAt.Time) > notReadyGrace:
			text = fmt.Sprintf("container %s: running for %s but not ready (readiness probe failing)", cs.Name, age(cs.State.Running.StartedAt, now))
			cause = fmt.Sprintf("container %s: running but not ready (readiness probe failing)", cs.Name)
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			text = fmt.Sprintf("container %s: %s", cs.Name, termination(cs.State.Terminated, now))
			cause = fmt.Sprintf("container %s: %s", cs.Name, exit(cs.State.Terminated))
		}
		if cs.RestartCount > 0 {
			if text == "" {
				text, reason = fmt.Sprintf("container %s: restarted %d times", cs.Name, cs.RestartCount), v1alpha1.CrashLoopingReason
				cause = fmt.Sprintf("container %s: restarting", cs.Name)
				if cs.RestartCount == 1 && cs.State.Running != nil {
					// One exit, running again: a start that raced what it needs (an
					// apiserver before etcd answers), not a crash loop. Shown, but no
					// condition names it (Pods): the second restart does.
					reason = v1alpha1.ProgressingReason
				}
			} else {
				text += fmt.Sprintf(" (restarted %d times)", cs.RestartCount)
			}
		}
		if t := cs.LastTerminationState.Terminated; t != nil && text != "" {
			text += "; last " + termination(t, now)
			cause += "; last " + exit(t)
		}
		if text != "" {
			problem(reason, text, cause)
		}
		if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
			started = true
			if text != "" {
				h.Logs = append(h.Logs, LogRef{Container: cs.Name, Previous: cs.State.Running == nil && cs.LastTerminationState.Terminated != nil})
			}
		}
	}
	if len(h.Problems) > 0 && !started {
		h.Describe = true
	}
	return h
}

// Pods says why a component's pods do not serve: the reason and "pod <name>: <cause>" of the
// first pod (by name) with a problem, in words that do not change by themselves (Cause); ok
// when none has one.
func Pods(pods []corev1.Pod, now time.Time) (reason, message string, ok bool) {
	sorted := slices.Clone(pods)
	slices.SortFunc(sorted, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for i := range sorted {
		if h := Pod(&sorted[i], now); len(h.Problems) > 0 && h.Reason != v1alpha1.ProgressingReason {
			return h.Reason, fmt.Sprintf("pod %s: %s", h.Name, h.Cause), false
		}
	}
	return "", "", true
}

// exit is how a container instance ended, without when.
func exit(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("exited with code %d", t.ExitCode)
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	return s
}

// imageOf is the image of a pod's container.
func imageOf(p *corev1.Pod, container string) string {
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		if c.Name == container {
			return c.Image
		}
	}
	return "unknown"
}

func isInit(p *corev1.Pod, container string) bool {
	return slices.ContainsFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == container })
}

// termination describes how a container instance ended.
func termination(t *corev1.ContainerStateTerminated, now time.Time) string {
	s := fmt.Sprintf("terminated with exit code %d", t.ExitCode)
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	if !t.FinishedAt.IsZero() {
		s += " " + age(t.FinishedAt, now) + " ago"
	}
	if msg := strings.TrimSpace(t.Message); msg != "" {
		s += ": " + firstLine(msg)
	}
	return s
}

func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}
