package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Units of a row's result and floor.
const (
	unitNs    = "ns"    // time per operation
	unitBps   = "B/s"   // throughput
	unitMBps  = "MB/s"  // throughput in 1e6 bytes a second
	unitBytes = "B"     // memory
	unitX     = "x"     // a dimensionless factor (speedup)
	unitNsEl  = "ns/el" // time per batch element
	unitCalls = "calls" // system calls per operation
	unitCount = "count" // a number of things (computations)
)

// issueSmall is the source of the targets of the issue "Small results at
// memory speed".
const issueSmall = "issue: small results"

// Target is what a row must meet: its ratio to the floor, or its value.
type Target struct {
	On     string  `json:"on"` // "ratio" or "value"
	Op     string  `json:"op"` // "<=" or ">="
	Limit  float64 `json:"limit"`
	Source string  `json:"source"` // "issue 9", "issue 2", "issue 5", or "ours" (no issue states one)
}

// Row is one line of the table.
type Row struct {
	ID         string  `json:"id"`
	Scenario   string  `json:"scenario"`
	Unit       string  `json:"unit"`
	Result     float64 `json:"result"`
	Floor      string  `json:"floor,omitempty"` // what the result is compared with
	FloorValue float64 `json:"floor_value,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"` // Result / FloorValue
	Target     *Target `json:"target,omitempty"`
	Status     string  `json:"status"` // "pass", "MISS", "info", "skipped" or "error"
	Error      string  `json:"error,omitempty"`
	Skip       string  `json:"skip,omitempty"` // why a row was not measured (a peer is not installed): not a failure
	Note       string  `json:"note,omitempty"`
}

// finish fills in the ratio and the status.
func (r *Row) finish() {
	if r.Error != "" {
		r.Status = "error"
		return
	}
	if r.Skip != "" {
		r.Status = "skipped"
		return
	}
	if r.FloorValue > 0 {
		r.Ratio = r.Result / r.FloorValue
	}
	if r.Target == nil {
		r.Status = "info"
		return
	}
	v := r.Result
	if r.Target.On == "ratio" {
		v = r.Ratio
	}
	ok := v <= r.Target.Limit
	if r.Target.Op == ">=" {
		ok = v >= r.Target.Limit
	}
	r.Status = "MISS"
	if ok {
		r.Status = "pass"
	}
}

// Report is everything one run produced.
type Report struct {
	Command string  `json:"command"`
	Quick   bool    `json:"quick"`
	Machine Machine `json:"machine"`
	Seconds float64 `json:"seconds"`
	Rows    []Row   `json:"rows"`
}

func (rep *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (rep *Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Command: `%s`\n\n", rep.Command)
	kernel := ""
	if m.Kernel != "" {
		kernel = ", kernel " + m.Kernel
	}
	fmt.Fprintf(&b, "Machine: %s, %d cores (GOMAXPROCS %d), %s RAM, %s %s/%s%s, scratch dir on %s (%s), load average %s at start, %s at end; %.0f s.\n\n",
		m.CPU, m.Cores, m.GOMAXPROCS, fmtBytes(float64(m.MemBytes)), m.GoVersion, m.GOOS, m.GOARCH, kernel, m.FSType, m.FSDevice, m.LoadStart, m.LoadEnd, rep.Seconds)
	b.WriteString("| scenario | result | floor (same run) | floor value | ratio | target | status |\n")
	b.WriteString("|---|---:|---|---:|---:|---|---|\n")
	for _, r := range rep.Rows {
		res, fl, ratio := "—", "—", "—"
		if r.Status == "skipped" && r.Result > 0 { // the pcache side was measured
			res = fmtValue(r.Result, r.Unit)
		}
		if r.Status != "error" && r.Status != "skipped" {
			res = fmtValue(r.Result, r.Unit)
			if r.FloorValue > 0 {
				fl = fmtValue(r.FloorValue, r.Unit)
				ratio = fmt.Sprintf("%.2f×", r.Ratio)
			}
		}
		floor := r.Floor
		if floor == "" {
			floor = "—"
		}
		tgt := "—"
		if r.Target != nil {
			tgt = r.Target.describe(r.Unit)
		}
		status := r.Status
		if r.Status == "error" {
			status = "error: " + r.Error
		}
		if r.Status == "MISS" {
			status = "**MISS**"
		}
		if r.Status == "skipped" {
			status = "skipped: " + r.Skip
		}
		scen := r.Scenario
		if r.Note != "" {
			scen += " (" + r.Note + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			mdEscape(scen), res, mdEscape(floor), fl, ratio, mdEscape(tgt), mdEscape(status))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// describe renders the target with the row's unit, and where it comes from.
func (t *Target) describe(unit string) string {
	op := "≤"
	if t.Op == ">=" {
		op = "≥"
	}
	var lim string
	if t.On == "ratio" {
		lim = fmt.Sprintf("%g× floor", t.Limit)
	} else {
		lim = fmtValue(t.Limit, unit)
	}
	return fmt.Sprintf("%s %s (%s)", op, lim, t.Source)
}

// fmtValue renders v in unit with a readable scale.
func fmtValue(v float64, unit string) string {
	switch unit {
	case unitNs:
		return fmtDuration(v) + "/op"
	case unitNsEl:
		return fmtDuration(v) + "/elem"
	case unitBps:
		return fmt.Sprintf("%.2f GB/s", v/1e9)
	case unitMBps:
		return fmt.Sprintf("%.0f MB/s", v)
	case unitBytes:
		return fmtBytes(v)
	case unitX:
		return fmt.Sprintf("%.2f×", v)
	case unitCalls:
		return fmt.Sprintf("%.2f calls/op", v)
	case unitCount:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

func fmtDuration(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f s", ns/1e9)
}

func fmtBytes(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
