// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create: intent, writers, hold, snapshots, commit.
 *
 * The set is durable as `creating` before any snapshot exists and becomes
 * `complete` only once all exist; a crash in between leaves a record that gc
 * finishes (each snapshot's path is recorded before it is taken, so nothing
 * can exist that the catalog does not know of). Nothing is written to the
 * catalog, or anywhere else, while processes are held. A guard process
 * outlives this one and thaws whatever it froze if it dies.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "fsfreeze.h"
#include "snapshot-internal.h"

/* Everything one create owns while it runs. */
struct run {
	struct catalog *c;
	struct snapshot_plan *p;
	struct catalog_set *set;
	char **storages;
	char **bases; /* per volume: the copy to share unchanged files with, or NULL */
	struct fsfreeze_fs *freeze; /* --freeze-fs: the filesystems to freeze */
	size_t n_freeze;
	struct writer_env env;
	char *volumes_text;
	struct guard *guard;
	int64_t hold_ns;
	char reason[WRITER_MESSAGE_MAX + 256];
	struct errbuf *eb;
	/* files a copy provider could not copy as of one instant, told after the hold */
	struct catalog_set_problem *problems;
	size_t n_problems;
	bool problems_lost;
};

static int fail(struct run *run, int r, const char *fmt, ...) _printf_(3, 4);

/* Keeps a provider's problem in memory: nothing may be written while processes are held. */
static void collect_problem(void *data, const struct snapshot_volume *v, const char *path,
			    const char *what)
{
	struct run *run = data;
	struct catalog_set_problem *grown;

	grown = reallocarray(run->problems, run->n_problems + 1, sizeof(*run->problems));
	if (!grown) {
		run->problems_lost = true;
		return;
	}
	run->problems = grown;
	grown[run->n_problems] = (struct catalog_set_problem){
		.volume = (unsigned)(v - run->p->volumes),
		.path = strdup(path),
		.what = strdup(what),
	};
	if (!grown[run->n_problems].path || !grown[run->n_problems].what) {
		free(grown[run->n_problems].path);
		free(grown[run->n_problems].what);
		run->problems_lost = true;
		return;
	}
	run->n_problems++;
}

/* Records every problem collected with the set, and tells the user. */
static int tell_problems(struct run *run)
{
	snapshot_note_fn note = run->p->note;
	int r;

	for (size_t i = 0; note && i < run->n_problems; i++) {
		const struct catalog_set_problem *pr = &run->problems[i];
		_cleanup_free_ char *msg = NULL;

		if (asprintf(&msg, "'%s' in volume '%s' was not copied as of one instant: %s",
			     pr->path, run->p->volumes[pr->volume].path, pr->what) >= 0)
			note(run->p->userdata, -EAGAIN, msg);
	}
	if (note && run->problems_lost)
		note(run->p->userdata, -ENOMEM, "some files that kept changing could not be listed");
	r = catalog_set_add_problems(run->c, run->set->seq, run->problems, run->n_problems);
	if (r < 0)
		return fail(run, r, "cannot record the files that kept changing in the catalog: %s",
			    strerror(-r));
	return 0;
}

static void free_problems(struct run *run)
{
	for (size_t i = 0; i < run->n_problems; i++) {
		free(run->problems[i].path);
		free(run->problems[i].what);
	}
	free(run->problems);
}

static bool prepared(const struct writer *w)
{
	return w->results[WRITER_PREPARE].result == WRITER_OK;
}

static bool froze(const struct writer *w)
{
	return prepared(w) && w->results[WRITER_FREEZE].result == WRITER_OK;
}

/* The first writer that did not do what was asked up to phase `upto`, for a reason line. */
static bool writer_problem(const struct run *run, enum writer_phase upto, char *buf, size_t size)
{
	for (size_t i = 0; i < run->p->n_writers; i++) {
		const struct writer *w = &run->p->writers[i];

		for (int ph = WRITER_PREPARE; ph <= (int)upto; ph++) {
			const struct writer_phase_result *res = &w->results[ph];

			if (res->result == WRITER_OK)
				continue;
			if (res->result == WRITER_NOT_RUN && ph == WRITER_FREEZE && !prepared(w))
				continue;
			snprintf(buf, size, "writer '%s' %s at %s%s%s", w->name,
				 res->result == WRITER_NOT_RUN ? "did not run"
							       : writer_result_to_string(res->result),
				 writer_phase_to_string((enum writer_phase)ph),
				 res->message[0] ? ": " : "", res->message);
			return true;
		}
	}
	return false;
}

static void run_phase(struct run *run, enum writer_phase phase, int64_t timeout_ns,
		      bool (*which)(const struct writer *w))
{
	for (size_t i = 0; i < run->p->n_writers; i++) {
		struct writer *w = &run->p->writers[i];

		if (which && !which(w))
			continue;
		/* a hook whose freeze starts must get its thaw even if we die */
		if (phase == WRITER_FREEZE && w->kind == WRITER_HOOK && run->guard)
			guard_watch_hook(run->guard, w->path, run->p->post_timeout_ns);
		writer_run(w, phase, timeout_ns, &run->env);
	}
}

static bool freeze_started(const struct writer *w)
{
	return w->results[WRITER_FREEZE].result != WRITER_NOT_RUN;
}

static bool ran_prepare(const struct writer *w)
{
	return w->results[WRITER_PREPARE].result != WRITER_NOT_RUN;
}

/* Thaw whatever froze; always, whatever happened in between. */
static void thaw_writers(struct run *run)
{
	run_phase(run, WRITER_THAW, run->p->post_timeout_ns, freeze_started);
}

static void end_writers(struct run *run, bool ok)
{
	if (ok)
		run_phase(run, WRITER_POST, run->p->post_timeout_ns, prepared);
	else
		run_phase(run, WRITER_ABORT, run->p->post_timeout_ns, ran_prepare);
	for (size_t i = 0; i < run->p->n_writers; i++)
		writer_end(&run->p->writers[i], 5 * INT64_C(1000000000));
}

static const char *writer_kind_name(enum writer_kind k)
{
	return k == WRITER_SESSION ? "session" : "hook";
}

/* Records writers, hold and consistency; the catalog copies what it needs. */
/* The mount points of the filesystems --freeze-fs freezes (borrowed strings), or NULL. */
static char **frozen_mount_points(const struct run *run)
{
	char **mp = calloc(run->n_freeze ? run->n_freeze : 1, sizeof(char *));

	for (size_t i = 0; mp && i < run->n_freeze; i++)
		mp[i] = run->freeze[i].mount_point;
	return mp;
}

static int record_run(struct run *run)
{
	struct snapshot_plan *p = run->p;
	_cleanup_free_ struct catalog_writer *ws = calloc(p->n_writers ? p->n_writers : 1,
							  sizeof(*ws));
	_cleanup_free_ struct catalog_writer_phase *phases =
		calloc((p->n_writers ? p->n_writers : 1) * _WRITER_PHASE_MAX, sizeof(*phases));
	bool app = p->n_writers > 0;
	_cleanup_free_ char **frozen = frozen_mount_points(run);
	struct catalog_run cr;

	if (!ws || !phases || !frozen)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_writers; i++) {
		struct writer *w = &p->writers[i];

		app = app && froze(w);
		ws[i] = (struct catalog_writer){
			.name = w->name,
			.path = w->path,
			.kind = (char *)writer_kind_name(w->kind),
			.phases = &phases[i * _WRITER_PHASE_MAX],
		};
		for (int ph = 0; ph < _WRITER_PHASE_MAX; ph++) {
			struct writer_phase_result *res = &w->results[ph];

			if (res->result == WRITER_NOT_RUN)
				continue;
			ws[i].phases[ws[i].n_phases++] = (struct catalog_writer_phase){
				.phase = (char *)writer_phase_to_string((enum writer_phase)ph),
				.result = (char *)writer_result_to_string(res->result),
				.message = res->message,
				.duration_ns = res->duration_ns,
			};
		}
	}
	cr = (struct catalog_run){
		.consistency = app ? "application" : "crash",
		.hold_ns = p->n_holds || run->n_freeze ? run->hold_ns : -1,
		.holds = p->holds,
		.n_holds = p->n_holds,
		.frozen_fs = frozen,
		.n_frozen_fs = run->n_freeze,
		.writers = ws,
		.n_writers = p->n_writers,
	};
	return catalog_set_record_run(run->c, run->set->seq, &cr);
}

/* Before the freeze (never during a hold): what gc thaws should this create and its guard die. */
static int record_frozen_fs(struct run *run)
{
	_cleanup_free_ char **mp = frozen_mount_points(run);

	if (!mp)
		return -ENOMEM;
	return catalog_set_record_frozen_fs(run->c, run->set->seq, mp, run->n_freeze);
}

/* Removes what this create made and marks the set failed with the reason. */
static void rollback(struct run *run)
{
	_cleanup_catalog_set_ struct catalog_set *now = NULL;
	struct errbuf eb;

	/* re-read: the record holds every snapshot path we may have made */
	if (catalog_set_get(run->c, run->set->id, &now) == 0)
		for (size_t i = 0; i < now->n_volumes; i++) {
			const struct catalog_volume *v = &now->volumes[i];
			const struct snapshot_provider *p = snapshot_provider_find(v->provider);

			if (p)
				p->remove(v, &eb);
		}
	record_run(run);
	catalog_set_update_state(run->c, run->set->seq, CATALOG_SET_FAILED, run->reason);
}

static int fail(struct run *run, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->reason, sizeof(run->reason), fmt, ap);
	va_end(ap);
	errbuf_setx(run->eb, r, "%s", run->reason);
	return r;
}

static int prepare_storage(struct run *run, struct catalog_volume_spec *specs)
{
	struct snapshot_plan *p = run->p;
	int r;

	for (size_t i = 0; i < p->n_volumes; i++) {
		const struct snapshot_volume *v = &p->volumes[i];

		if (asprintf(&run->storages[i], "%s/%s", v->storage_root, catalog_uuid(run->c)) < 0) {
			run->storages[i] = NULL;
			return -ENOMEM;
		}
		r = v->provider->prepare_storage(run->storages[i], run->eb);
		if (r < 0)
			return r;
		r = catalog_storage_add(run->c, run->storages[i], v->provider->name);
		if (r < 0)
			return errbuf_set(run->eb, r, "cannot record storage '%s' in the catalog",
					  run->storages[i]);
		specs[i] = (struct catalog_volume_spec){
			.path = v->path,
			.name = v->name,
			.provider = v->provider->name,
			.storage = run->storages[i],
			.origin_uuid = v->origin_uuid,
		};
	}
	return 0;
}

/*
 * The newest complete set's snapshot of the same volume by the same provider
 * in the same storage: a copy shares with it what did not change since.
 */
static int find_bases(struct run *run)
{
	struct catalog_set **sets = NULL;
	size_t n = 0;
	int r;

	r = catalog_set_list(run->c, 1u << CATALOG_SET_COMPLETE, &sets, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < run->p->n_volumes; i++) {
		const struct snapshot_volume *v = &run->p->volumes[i];

		if (!v->provider->snapshot_suffix)
			continue;
		for (size_t k = n; k-- > 0 && !run->bases[i];) {
			for (size_t j = 0; j < sets[k]->n_volumes; j++) {
				const struct catalog_volume *cv = &sets[k]->volumes[j];

				if (cv->snapshot && streq(cv->path, v->path) &&
				    streq(cv->provider, v->provider->name) &&
				    streq(cv->storage, run->storages[i])) {
					run->bases[i] = strdup(cv->snapshot);
					if (!run->bases[i])
						r = -ENOMEM;
					break;
				}
			}
		}
	}
	catalog_sets_free(sets, n);
	return r;
}

/* Records every snapshot's path before any is taken. */
static int record_paths(struct run *run)
{
	for (size_t i = 0; i < run->p->n_volumes; i++) {
		char *dest;
		int r;

		const char *suffix = run->p->volumes[i].provider->snapshot_suffix;

		if (asprintf(&dest, "%s/%s.%zu%s", run->storages[i], run->set->id, i,
			     suffix ? suffix : "") < 0)
			return -ENOMEM;
		free(run->set->volumes[i].snapshot);
		run->set->volumes[i].snapshot = dest;
		r = catalog_volume_set_snapshot(run->c, run->set->seq, (unsigned)i, dest, NULL);
		if (r < 0)
			return errbuf_set(run->eb, r, "cannot record the snapshot path in the catalog");
	}
	return 0;
}

static int make_env(struct run *run)
{
	size_t len = 1;

	for (size_t i = 0; i < run->p->n_volumes; i++)
		len += strlen(run->p->volumes[i].path) + 1;
	run->volumes_text = calloc(1, len);
	if (!run->volumes_text)
		return -ENOMEM;
	for (size_t i = 0; i < run->p->n_volumes; i++) {
		strcat(run->volumes_text, run->p->volumes[i].path);
		strcat(run->volumes_text, "\n");
	}
	run->env = (struct writer_env){
		.set_id = run->set->id,
		.token = run->set->token,
		.volumes = run->volumes_text,
	};
	return 0;
}

/*
 * With a hold, a snapshot whose provider can refresh it is taken twice: first
 * outside the hold, at its own place, then inside the hold refreshed, which
 * copies again only what changed since. The hold then lasts as long as the
 * refresh. The first take is recorded as the set's snapshot already, so a
 * crash leaves nothing that gc would not remove with the set.
 */
static int first_passes(struct run *run, bool *taken)
{
	struct snapshot_plan *p = run->p;

	for (size_t i = 0; i < p->n_volumes; i++) {
		const struct snapshot_volume *v = &p->volumes[i];
		/* files that change now are copied again in the hold: no waiting, no reports */
		struct snapshot_take t = { .base = run->bases[i] };
		char *uuid = NULL;
		int r;

		if (!v->provider->refreshes)
			continue;
		r = v->provider->take(v, &t, run->set->volumes[i].snapshot, &uuid, run->eb);
		free(uuid);
		if (r < 0)
			return fail(run, r, "%s", run->eb->msg);
		taken[i] = true;
	}
	return 0;
}

/* Keeps the first failure: the reason a release failed, when nothing failed before. */
static int release_failed(struct run *run, int r, int k, const char *what, const char *msg)
{
	if (k >= 0 || r < 0)
		return r;
	if (k == -ETIMEDOUT)
		return fail(run, k,
			    "the hold lasted longer than its deadline of %.1f s and was released; "
			    "the volumes may not show one instant",
			    (double)run->p->hold_timeout_ns / 1e9);
	return fail(run, k, "releasing %s failed: %s", what, msg);
}

/*
 * The instant itself: hold the cgroups, freeze the filesystems, flush the
 * volumes, take every snapshot, release. Nothing here writes to the catalog;
 * the snapshots' identities are kept in uuids[] and recorded after the hold.
 */
static int take_snapshots(struct run *run, char **uuids)
{
	struct snapshot_plan *p = run->p;
	_cleanup_free_ int *fds = calloc(p->n_volumes, sizeof(int));
	_cleanup_free_ bool *taken = calloc(p->n_volumes, sizeof(bool));
	bool held = p->n_holds > 0 || run->n_freeze > 0;
	struct hold *hold = NULL;
	struct fsfreeze *freeze = NULL;
	int64_t start, deadline;
	struct errbuf heb;
	int r = 0;

	if (!fds || !taken)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_volumes; i++)
		fds[i] = open(p->volumes[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (held) {
		r = first_passes(run, taken);
		if (r < 0)
			goto out;
	}

	/* flush what is dirty now, so that the sync inside the hold has little left to do */
	for (size_t i = 0; i < p->n_volumes; i++)
		if (fds[i] >= 0)
			syncfs(fds[i]);

	if (run->n_freeze > 0) {
		r = record_frozen_fs(run);
		if (r < 0) {
			fail(run, r, "cannot record the filesystems to freeze in the catalog");
			goto out;
		}
	}
	start = time_mono_ns();
	deadline = start + p->hold_timeout_ns;
	if (p->n_holds > 0) {
		r = hold_begin(run->guard, p->holds, p->n_holds, deadline, &hold, &heb);
		if (r < 0) {
			fail(run, r, "the hold failed: %s", heb.msg);
			goto out;
		}
		failpoint("hold-frozen");
	}
	if (run->n_freeze > 0) {
		/* after the cgroups: a held process blocked on a frozen filesystem could not freeze */
		r = fsfreeze_begin(run->guard, run->freeze, run->n_freeze, deadline, &freeze, &heb);
		if (r < 0) {
			fail(run, r, "freezing the filesystems failed: %s", heb.msg);
			goto release;
		}
		failpoint("fs-frozen");
	}
	/* what held processes wrote reaches the disk before the snapshots */
	for (size_t i = 0; i < p->n_volumes; i++)
		if (p->volumes[i].provider->sync && fds[i] >= 0)
			p->volumes[i].provider->sync(&p->volumes[i], fds[i]);
	for (size_t i = 0; i < p->n_volumes; i++) {
		struct snapshot_take t = {
			.base = taken[i] ? NULL : run->bases[i],
			.refresh = taken[i],
			.lock_timeout_ns = p->lock_timeout_ns,
			/* a copy made inside the hold must end with it */
			.deadline_ns = held ? deadline : 0,
			.strict = p->strict,
			.problem = collect_problem,
			.problem_data = run,
		};

		r = p->volumes[i].provider->take(&p->volumes[i], &t, run->set->volumes[i].snapshot,
						 &uuids[i], run->eb);
		if (r < 0) {
			fail(run, r, "%s", run->eb->msg);
			break;
		}
		failpoint("create-after-snapshot");
	}
release:
	r = release_failed(run, r, fsfreeze_end(freeze, &heb), "the filesystems", heb.msg);
	r = release_failed(run, r, hold_end(hold, &heb), "the hold", heb.msg);
	run->hold_ns = time_mono_ns() - start;
out:
	for (size_t i = 0; i < p->n_volumes; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

static int run_create(struct run *run)
{
	struct snapshot_plan *p = run->p;
	_cleanup_free_ char **uuids = calloc(p->n_volumes, sizeof(char *));
	char problem[sizeof(run->reason)];
	int r;

	if (!uuids)
		return -ENOMEM;
	r = make_env(run);
	if (r < 0)
		return r;

	run_phase(run, WRITER_PREPARE, p->prepare_timeout_ns, NULL);
	if (p->require_writers && writer_problem(run, WRITER_PREPARE, problem, sizeof(problem))) {
		r = fail(run, -ECANCELED, "%s", problem);
		goto writers_done;
	}

	if (p->n_writers > 0 || p->n_holds > 0 || run->n_freeze > 0) {
		/* the guard may run hooks' thaw after we are gone: they get the set's story too */
		setenv("STILLFS_SET_ID", run->env.set_id, 1);
		setenv("STILLFS_SET_TOKEN", run->env.token, 1);
		setenv("STILLFS_VOLUMES", run->env.volumes, 1);
		r = guard_start(&run->guard);
		if (r < 0) {
			fail(run, r, "cannot start the guard process: %s", strerror(-r));
			goto writers_done;
		}
	}
	run_phase(run, WRITER_FREEZE, p->freeze_timeout_ns, prepared);
	failpoint("writers-frozen");
	if (p->require_writers && writer_problem(run, WRITER_FREEZE, problem, sizeof(problem))) {
		r = fail(run, -ECANCELED, "%s", problem);
		goto thaw;
	}

	r = take_snapshots(run, uuids);
thaw:
	thaw_writers(run);
	if (r == 0)
		r = tell_problems(run);
	if (run->guard) {
		guard_forget(run->guard);
		guard_release(run->guard);
		run->guard = NULL;
	}
	for (size_t i = 0; r == 0 && i < p->n_volumes; i++) {
		r = catalog_volume_set_snapshot(run->c, run->set->seq, (unsigned)i,
						run->set->volumes[i].snapshot, uuids[i]);
		if (r < 0)
			fail(run, r, "cannot record the snapshot of '%s' in the catalog: %s",
			     p->volumes[i].path, strerror(-r));
	}
writers_done:
	end_writers(run, r == 0);
	for (size_t i = 0; i < p->n_volumes; i++)
		free(uuids[i]);
	return r;
}

int snapshot_set_create(struct catalog *c, struct snapshot_plan *p, struct catalog_set **ret,
			struct errbuf *eb)
{
	_cleanup_free_ struct catalog_volume_spec *specs = calloc(p->n_volumes, sizeof(*specs));
	struct run run = { .c = c, .p = p, .eb = eb, .hold_ns = -1 };
	struct process_id self;
	sigset_t block, old;
	int r;

	run.storages = calloc(p->n_volumes, sizeof(char *));
	run.bases = calloc(p->n_volumes, sizeof(char *));
	if (!specs || !run.storages || !run.bases) {
		r = -ENOMEM;
		goto free_storages;
	}
	r = process_id_get(getpid(), &self);
	if (r < 0) {
		errbuf_set(eb, r, "cannot read this process's identity");
		goto free_storages;
	}
	r = prepare_storage(&run, specs);
	if (r < 0)
		goto free_storages;
	if (p->freeze_fs) {
		r = fsfreeze_resolve(p->volumes, p->n_volumes, run.storages, catalog_path(c),
				     &run.freeze, &run.n_freeze, eb);
		if (r < 0)
			goto free_storages;
	}
	r = find_bases(&run);
	if (r < 0) {
		errbuf_set(eb, r, "cannot read the earlier sets from the catalog");
		goto free_storages;
	}

	/* an interrupt now would leave work for gc and writers half told; finish first */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);

	r = catalog_set_begin(c, p->label, specs, p->n_volumes, &self, &run.set);
	if (r < 0) {
		errbuf_set(eb, r, "cannot record the new set in the catalog");
		goto out;
	}
	failpoint("create-after-intent");
	r = record_paths(&run);
	if (r < 0) {
		fail(&run, r, "%s", eb->msg);
		goto fail;
	}
	failpoint("create-before-snapshot");

	r = run_create(&run);
	if (r < 0)
		goto fail;
	r = record_run(&run);
	if (r < 0) {
		fail(&run, r, "cannot record the writers' results: %s", strerror(-r));
		goto fail;
	}
	r = catalog_set_update_state(c, run.set->seq, CATALOG_SET_COMPLETE, NULL);
	if (r < 0) {
		fail(&run, r, "cannot mark set %s complete in the catalog: %s", run.set->id,
		     strerror(-r));
		goto fail;
	}
	failpoint("create-after-commit");
	r = catalog_set_get(c, run.set->id, ret);
	if (r < 0)
		errbuf_set(eb, r, "cannot read back set %s", run.set->id);
	goto out;
fail:
	rollback(&run);
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	catalog_set_free(run.set);
	free(run.volumes_text);
	free_problems(&run);
free_storages:
	fsfreeze_fs_free(run.freeze, run.n_freeze);
	for (size_t i = 0; i < p->n_volumes; i++) {
		free(run.storages ? run.storages[i] : NULL);
		free(run.bases ? run.bases[i] : NULL);
	}
	free(run.storages);
	free(run.bases);
	return r;
}
