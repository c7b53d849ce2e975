package maintain

import (
	"time"

	"github.com/pcache/pcache/internal/cas"
)

// FuncStats describes one function, or the totals.
type FuncStats struct {
	Name     string     `json:"name"`
	Entries  int        `json:"entries"`
	Objects  int        `json:"objects"`
	Bytes    int64      `json:"bytes"`
	Apparent int64      `json:"apparent_bytes"`
	Oldest   *time.Time `json:"oldest,omitempty"`
	Newest   *time.Time `json:"newest,omitempty"`
}

// StatsReport is what Stats found.
type StatsReport struct {
	Dir       string      `json:"dir"`
	Functions []FuncStats `json:"functions"`
	Total     FuncStats   `json:"total"`
	Disk      DiskStats   `json:"disk"`
}

// DiskStats is what the object store holds, referenced or not.
type DiskStats struct {
	Objects      int   `json:"objects"`
	Bytes        int64 `json:"bytes"`
	Unreferenced int   `json:"unreferenced_objects"`
	UnrefBytes   int64 `json:"unreferenced_bytes"`
	TempFiles    int   `json:"temp_files"`
	TempBytes    int64 `json:"temp_bytes"`
	LostAndFound int   `json:"lost_and_found"`
}

// Stats counts entries, objects and bytes per function (only the named
// ones, if any are given; else those with live entries) and in total, and
// what is on disk.
func (c *Cache) Stats(only ...string) (*StatsReport, error) {
	names, err := c.Functions()
	if err != nil {
		return nil, err
	}
	if len(only) > 0 {
		for _, n := range only {
			if err := c.HasFunction(n); err != nil {
				return nil, err
			}
		}
		names = only
	}
	rep := &StatsReport{Dir: c.d.Root(), Functions: []FuncStats{}, Total: FuncStats{Name: "TOTAL"}}
	all := map[cas.ID]int64{}
	for _, name := range names {
		es, err := c.Entries(name)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 && len(only) == 0 {
			// Every entry dropped (rm, Forget): the manifest stays for its
			// tombstones (a later rsync must not bring the entries back),
			// but the function is gone.
			continue
		}
		fsx := FuncStats{Name: name, Entries: len(es)}
		seen := map[cas.ID]int64{}
		for _, e := range es {
			for id, r := range ObjectsOf(name, e) {
				seen[id] = r.Size
				all[id] = r.Size
				fsx.Apparent += r.Size
			}
			addTime(&fsx, entryTime(e.Time))
			addTime(&rep.Total, entryTime(e.Time))
		}
		fsx.Objects = len(seen)
		for _, n := range seen {
			fsx.Bytes += n
		}
		rep.Functions = append(rep.Functions, fsx)
		rep.Total.Entries += fsx.Entries
		rep.Total.Apparent += fsx.Apparent
	}
	rep.Total.Objects = len(all)
	for _, n := range all {
		rep.Total.Bytes += n
	}
	objs, _, _, _, err := c.objects()
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		rep.Disk.Objects++
		rep.Disk.Bytes += o.Size
		if _, ok := all[o.ID]; !ok {
			rep.Disk.Unreferenced++
			rep.Disk.UnrefBytes += o.Size
		}
	}
	temps, err := scanFlat(c.d.Tmp())
	if err != nil {
		return nil, err
	}
	for _, t := range temps {
		rep.Disk.TempFiles++
		rep.Disk.TempBytes += t.Size
	}
	lost, err := scanFlat(c.d.LostFound())
	if err != nil {
		return nil, err
	}
	rep.Disk.LostAndFound = len(lost)
	return rep, nil
}

func addTime(s *FuncStats, t time.Time) {
	if t.IsZero() {
		return
	}
	if s.Oldest == nil || t.Before(*s.Oldest) {
		s.Oldest = &t
	}
	if s.Newest == nil || t.After(*s.Newest) {
		s.Newest = &t
	}
}
