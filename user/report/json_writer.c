// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * json_writer.c: JSON strings and the profile header (see json_writer.h).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "report/json_writer.h"
#include "target/cgroup.h"
#include "report/view.h"

/* The two-character escapes of RFC 8259; NULL for the rest. */
static const char *json_escape(uint32_t c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

void tm_json__str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const char *esc;
	uint32_t cp;
	size_t n;

	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (*s) {
		n = tm_report__utf8_decode(s, &cp);
		if (!n) {
			fputs("\\ufffd", out);
			s++;
			continue;
		}
		esc = json_escape(cp);
		if (esc)
			fputs(esc, out);
		else if (cp < 0x20 || cp == 0x7f || cp == '<' || cp == '>' || cp == '&' ||
			 cp == 0x2028 || cp == 0x2029)
			fprintf(out, "\\u%04x", (unsigned int)cp);
		else
			fwrite(s, 1, n, out);
		s += n;
	}
	fputc('"', out);
}

static void json_counters(FILE *out, int indent, const char *key, const struct tm_counter *c,
			  size_t n)
{
	size_t i;

	fprintf(out, "%*s\"%s\": {", indent, "", key);
	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "", out);
		tm_json__str(out, c[i].name);
		fprintf(out, ": %" PRIu64, c[i].value);
	}
	fputs("},\n", out);
}

static void json_u64_if(FILE *out, const char *key, int have, uint64_t v)
{
	if (have)
		fprintf(out, "%s: %" PRIu64, key, v);
	else
		fprintf(out, "%s: null", key);
}

/*
 * "exact": whether every number is; "lower_bounds": for each reason it is
 * not, which numbers, by at most how many bytes (null: not counted), the
 * reason and the flag that fixes it (null: none).
 */
static void json_lower_bounds(FILE *out, const struct tm_profile *p, int indent)
{
	struct tm_lower_bound lb[TM_LOWER_BOUNDS_MAX];
	size_t i, n = tm_report__lower_bounds(p, lb);

	fprintf(out, "%*s\"exact\": %s,\n%*s\"lower_bounds\": [", indent, "", n ? "false" : "true",
		indent, "");
	for (i = 0; i < n; i++) {
		fprintf(out, "%s\n%*s  {\"numbers\": ", i ? "," : "", indent, "");
		tm_json__str(out, lb[i].numbers);
		json_u64_if(out, ", \"by_at_most_bytes\"", lb[i].by_known, lb[i].by_at_most);
		fprintf(out, ", \"events\": %" PRIu64 ", \"reason\": ", lb[i].events);
		tm_json__str(out, lb[i].reason);
		fputs(", \"flag\": ", out);
		tm_json__str(out, lb[i].flag);
		fputc('}', out);
	}
	fprintf(out, n ? "\n%*s],\n" : "],\n", indent, "");
}

void tm_json__profile_header(FILE *out, const struct tm_profile *p, int indent)
{
	struct tm_container_ids ids;
	int have_ids = p->cgroup && !tm_cgroup__container_ids(p->cgroup, &ids);

	fprintf(out, "%*s\"process\": {\"pid\": %d, \"command\": ", indent, "", p->pid);
	tm_json__str(out, p->command);
	if (p->has_exit_code)
		fprintf(out, ", \"exit_code\": %d", p->exit_code);
	else
		fputs(", \"exit_code\": null", out);
	if (p->has_signal)
		fprintf(out, ", \"signal\": %d", p->signal);
	else
		fputs(", \"signal\": null", out);
	if (p->end_time_ns > p->start_time_ns && p->start_time_ns)
		fprintf(out, ", \"duration_ns\": %" PRIu64, p->end_time_ns - p->start_time_ns);
	else
		fputs(", \"duration_ns\": null", out);
	fputs(", \"cgroup\": ", out);
	tm_json__str(out, p->cgroup);
	if (p->ns_pid)
		fprintf(out, ", \"ns_pid\": %d", p->ns_pid);
	else
		fputs(", \"ns_pid\": null", out);
	fputs(", \"pod_uid\": ", out);
	tm_json__str(out, have_ids && ids.pod_uid[0] ? ids.pod_uid : NULL);
	fputs(", \"container_id\": ", out);
	tm_json__str(out, have_ids && ids.container_id[0] ? ids.container_id : NULL);
	fputs("},\n", out);
	if (p->oom.killed) {
		const struct tm_oom *o = &p->oom;

		fprintf(out, "%*s\"oom\": {\"time_ns\": %" PRIu64 ", \"rss_bytes\": %" PRIu64
			", \"rss_anon_bytes\": %" PRIu64 ", \"rss_file_bytes\": %" PRIu64
			", \"rss_shmem_bytes\": %" PRIu64 ",\n%*s        \"cgroup\": ", indent, "",
			o->time_ns, o->rss_anon + o->rss_file + o->rss_shmem, o->rss_anon, o->rss_file,
			o->rss_shmem, indent, "");
		tm_json__str(out, o->cgroup);
		if (o->cgroup_limit)
			fprintf(out, ", \"cgroup_limit_bytes\": %" PRIu64, o->cgroup_limit);
		else
			fputs(", \"cgroup_limit_bytes\": null", out);
		fprintf(out, ", \"cgroup_usage_bytes\": %" PRIu64 ",\n%*s        ", o->cgroup_usage, indent, "");
		/* the group's own files after the kill: null where it has none */
		json_u64_if(out, "\"memory_max_bytes\"", (o->cg_have & TM_CG_HAVE_MAX) && o->cg_max, o->cg_max);
		json_u64_if(out, ", \"memory_current_bytes\"", o->cg_have & TM_CG_HAVE_CURRENT,
			    o->cg_current);
		json_u64_if(out, ", \"memory_peak_bytes\"", o->cg_have & TM_CG_HAVE_PEAK, o->cg_peak);
		json_u64_if(out, ", \"oom_kill\"", o->cg_have & TM_CG_HAVE_OOM_KILL, o->cg_oom_kill);
		fputs("},\n", out);
	} else {
		fprintf(out, "%*s\"oom\": null,\n", indent, "");
	}

	fprintf(out, "%*s\"totals\": {\"peak_bytes\": %" PRIu64 ", \"peak_time_ns\": %" PRIu64
		", \"live_bytes_end\": %" PRId64 ",\n%*s           \"alloc_bytes\": %" PRIu64
		", \"alloc_count\": %" PRIu64 ", \"free_count\": %" PRIu64 "},\n", indent, "",
		p->peak_bytes, p->peak_time_ns, p->live_bytes_end, indent, "", p->alloc_bytes,
		p->alloc_count, p->free_count);
	/* Which moment the leaks view and live_bytes_end are of, and what was live at the exit. */
	fprintf(out, "%*s\"end\": {\"moment\": \"%s\", \"time_ns\": ", indent, "",
		tm_end_moment_name(p->end_moment) ? tm_end_moment_name(p->end_moment) : "exit");
	if (p->end_moment == TM_END_EXIT)
		fputs("null", out);
	else
		fprintf(out, "%" PRIu64, p->end_moment_ns);
	fprintf(out, ", \"live_bytes_exit\": %" PRId64 "},\n", p->live_bytes_exit);
	if (p->attached) {
		fprintf(out, "%*s\"attach\": {\"live_before_bytes\": %" PRIu64, indent, "", p->attach_rss_anon);
		fprintf(out, ", \"freed_before_attach\": %" PRIu64 "},\n",
			tm_profile__counter(p, 0, "freed_before_attach"));
	} else
		fprintf(out, "%*s\"attach\": null,\n", indent, "");
	fprintf(out, "%*s\"sample_bytes\": %" PRIu64 ",\n", indent, "", p->sample_bytes);
	/* which mode made it, what that mode records and what it cannot see (null: nothing named) */
	fprintf(out, "%*s\"mode\": {\"name\": ", indent, "");
	tm_json__str(out, tm_profile_mode__name(p->mode));
	fputs(", \"sees\": ", out);
	tm_json__str(out, tm_profile_mode__sees(p->mode));
	fputs(", \"cannot_see\": ", out);
	tm_json__str(out, tm_profile_mode__misses(p->mode));
	fputs("},\n", out);
	/* null: the allocator was understood and its blocks counted; else what the numbers are instead */
	fprintf(out, "%*s\"allocator_note\": ", indent, "");
	tm_json__str(out, p->allocator_note);
	fputs(",\n", out);

	json_lower_bounds(out, p, indent);
	json_counters(out, indent, "dropped", p->drops, p->ndrops);
	json_counters(out, indent, "stats", p->stats, p->nstats);
}
