package diff

import (
	"fmt"

	"github.com/behavediff/behavediff/baseline"
)

// RuleExitCode identifies the finding for a changed outcome: the command
// now exits with another code, crashes on a signal or times out.
const RuleExitCode = "BD-EXIT-CODE"

// ExitCodeLevel is how risky a changed outcome is: a command that used to
// succeed and now fails may have done only part of its job, or a different
// job, and its behaviour diff alone would not say so.
const ExitCodeLevel = High

// TimedOutExit is the exit code a baseline built from a timed-out run
// would carry (as a shell reports a SIGKILL'd command).
const TimedOutExit = 128 + 9

// compareOutcome reports a changed exit code. Baselines that do not know
// theirs (older files) never produce this finding.
func compareOutcome(base, cur *baseline.Baseline, ctx Context) []Finding {
	if base.Exit == nil || cur.Exit == nil || *base.Exit == *cur.Exit {
		return nil
	}
	subject := fmt.Sprintf("exit %d", *cur.Exit)
	reason := fmt.Sprintf("the command now %s (approved: %s)", exitText(*cur.Exit, ctx.TimedOut), exitText(*base.Exit, false))
	q := ""
	if ctx.RunID != 0 {
		q = "behavediff query " + shellQuote(fmt.Sprintf("SELECT id, status, exit_code FROM runs WHERE id = %d", ctx.RunID))
	}
	return []Finding{{
		Level: ExitCodeLevel, Kind: "exit-code", Change: Added, Section: "exit",
		Subject: subject, Reason: reason, Query: q, Rule: RuleExitCode,
	}}
}

func exitText(code int, timedOut bool) string {
	switch {
	case timedOut:
		return "times out"
	case code > 128 && code < 128+65:
		return fmt.Sprintf("is killed by signal %d", code-128)
	default:
		return fmt.Sprintf("exits %d", code)
	}
}
