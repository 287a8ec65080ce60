# Upgrades in place: each previous release (test/upgrade/releases: 0.2.0,
# and 0.1.0 on PostgreSQL 15) is installed into a private copy of
# PostgreSQL's installation (test/upgrade/prepare.sh, run by test/tap.sh),
# given a server, a group table with committed positions, a running pipeline
# and a running sink with traffic; then upgraded the way docs/operations.md
# ("Upgrades") says: the tree's files installed, the server restarted, and
# ALTER EXTENSION kafka_fdw UPDATE while the workers run.  Checked: the
# workers of the new library wait for the update (they would meet the old
# release's tables), nothing is lost or repeated (group positions, the
# pipeline from its slot, the sink from its group), and the upgraded
# database has the same objects as a fresh install (catalogs compared).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use KafkaTest;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $brokers = brokers();
my $dir = $ENV{KAFKA_FDW_UPGRADE_DIR};
plan skip_all =>
  'KAFKA_FDW_UPGRADE_DIR is not set up (run through test/tap.sh, which runs test/upgrade/prepare.sh)'
  unless defined $dir && $dir ne '' && -f "$dir/install_path";

sub first_line { my $l = slurp_file($_[0]); chomp $l; return $l; }
my $install_path = first_line("$dir/install_path");
my $libdir = first_line("$dir/libdir");
my $sharedir = first_line("$dir/sharedir");
my $prefix = "$dir/prefix";

my @releases = sort { version_key($a) cmp version_key($b) }
  grep { -d "$dir/releases/$_" } map { s{.*/}{}r } glob("$dir/releases/*");
note "skipped: $_" for grep { /\S/ } split /\n/, slurp_file("$dir/skipped");
plan skip_all => 'no release to upgrade from on this major: ' . slurp_file("$dir/skipped")
  unless @releases;

sub version_key { return join '.', map { sprintf '%05d', $_ } split /\./, $_[0]; }

# The version the tree's files install (its control file's default_version).
my $control = "$dir/current" . ($sharedir =~ s/^\Q$prefix\E//r) . "/extension/kafka_fdw.control";
my ($current) = slurp_file($control) =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $current, "the tree's control file names its version ($current)");

# Installs the kafka_fdw files of a `make install DESTDIR=` tree into the
# private installation, after removing those of the last one.
sub install_files
{
	my ($stage) = @_;
	unlink("$libdir/kafka_fdw.so", glob("$sharedir/extension/kafka_fdw.*"),
		glob("$sharedir/extension/kafka_fdw--*"));
	system('cp', '-a', "$stage/.", "$prefix/") == 0
	  or BAIL_OUT("could not copy $stage into $prefix");
	return;
}

# The extension's objects, one line each: what a fresh install and an
# upgraded one must have alike (members; functions with their signatures,
# volatility, security, settings and grants; tables, columns, constraints,
# indexes, views' definitions, grants, policies, triggers; what
# pg_extension_config_dump marked; comments; initial privileges).
my $catalog_sql = q{
WITH ext AS (SELECT oid, extnamespace FROM pg_catalog.pg_extension WHERE extname = 'kafka_fdw'),
members AS (SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
             WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT c.* FROM members m JOIN pg_catalog.pg_class c
          ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid)
SELECT line FROM (
  SELECT 'member ' || pg_describe_object(classid, objid, 0) AS line FROM members
  UNION ALL
  SELECT 'extension version=' || e.extversion || ' schema=' || n.nspname || ' schema_acl=' || coalesce(n.nspacl::text, '')
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'kafka_fdw'
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' (' || pg_get_function_arguments(p.oid) || ') returns '
         || coalesce(pg_get_function_result(p.oid), '') || ' kind=' || p.prokind::text || ' volatility=' || p.provolatile::text
         || ' strict=' || p.proisstrict || ' security_definer=' || p.prosecdef || ' leakproof=' || p.proleakproof
         || ' parallel=' || p.proparallel::text || ' language=' || l.lanname || ' config=' || coalesce(p.proconfig::text, '')
         || ' acl=' || coalesce(p.proacl::text, '') || ' owner=' || p.proowner::regrole
         || ' body=' || CASE WHEN p.probin IS NULL THEN md5(p.prosrc) ELSE p.prosrc END
    FROM members m JOIN pg_catalog.pg_proc p ON m.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  UNION ALL
  SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
         || ' rls=' || c.relrowsecurity || ' force_rls=' || c.relforcerowsecurity
         || ' acl=' || coalesce(c.relacl::text, '') || ' options=' || coalesce(c.reloptions::text, '')
         || ' owner=' || c.relowner::regrole
    FROM rels c
  UNION ALL
  SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' #' || a.attnum || ' '
         || format_type(a.atttypid, a.atttypmod) || ' not_null=' || a.attnotnull
         || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' generated=' || a.attgenerated::text
         || ' identity=' || a.attidentity::text || ' collation=' || coalesce(a.attcollation::regcollation::text, '')
         || ' acl=' || coalesce(a.attacl::text, '')
    FROM rels c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM pg_catalog.pg_constraint co JOIN rels c ON c.oid = co.conrelid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i JOIN rels c ON c.oid = i.indrelid
  UNION ALL
  SELECT 'view ' || c.oid::regclass || ' ' || pg_get_viewdef(c.oid) FROM rels c WHERE c.relkind::text IN ('v', 'm')
  UNION ALL
  SELECT 'policy ' || po.polrelid::regclass || ' ' || po.polname || ' cmd=' || po.polcmd::text
         || ' permissive=' || po.polpermissive || ' roles=' || po.polroles::regrole[]::text
         || ' using=' || coalesce(pg_get_expr(po.polqual, po.polrelid), '')
         || ' check=' || coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '')
    FROM pg_catalog.pg_policy po JOIN rels c ON c.oid = po.polrelid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM pg_catalog.pg_trigger t JOIN rels c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'config_dump ' || u.cfg::regclass || ' where=' || coalesce(u.cond, '')
    FROM pg_catalog.pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond) WHERE e.extname = 'kafka_fdw'
  UNION ALL
  SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
    FROM pg_catalog.pg_description d JOIN members m ON d.classoid = m.classid AND d.objoid = m.objid
  UNION ALL
  -- the privileges pg_dump treats as the extension's own (set by its scripts)
  SELECT 'init_privs ' || pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' ' || ip.privtype::text
         || ' ' || ip.initprivs::text
    FROM pg_catalog.pg_init_privs ip JOIN members m ON ip.classoid = m.classid AND ip.objoid = m.objid
  UNION ALL
  SELECT 'fdw ' || w.fdwname || ' handler=' || w.fdwhandler::regproc || ' validator=' || w.fdwvalidator::regproc
         || ' acl=' || coalesce(w.fdwacl::text, '') || ' options=' || coalesce(w.fdwoptions::text, '')
    FROM pg_catalog.pg_foreign_data_wrapper w WHERE w.fdwname = 'kafka_fdw'
) o ORDER BY line COLLATE "C"};

# The server log since $offset (bytes).
sub log_since
{
	my ($node, $offset) = @_;
	my $log = slurp_file($node->logfile);
	return substr($log, $offset);
}

# Waits until $re appears in the node's log after $offset; true if so.
sub wait_log
{
	my ($node, $re, $offset, $timeout) = @_;
	my $deadline = time() + ($timeout // 60);
	while (time() < $deadline)
	{
		return 1 if log_since($node, $offset) =~ $re;
		sleep(0.2);
	}
	return 0;
}

for my $release (@releases)
{
	my $tag = 'u' . ($release =~ s/\.//gr) . "_$$";    # topics and groups of this run
	my $pipeline = "up$tag";
	my $topic = "$pipeline.public.src";

	install_files("$dir/releases/$release");
	my $node = PostgreSQL::Test::Cluster->new("up_" . ($release =~ s/\./_/gr),
		install_path => $install_path);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'kafka_fdw'
wal_level = logical
max_wal_senders = 2
max_replication_slots = 8
max_worker_processes = 16
log_min_messages = warning
});
	$node->start;
	my $sq = sub { return $node->safe_psql('postgres', $_[0]); };

	# The private installation is the one in use: its library, its files.
	my $pid = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
	like(slurp_file("/proc/$pid/maps"), qr/\Q$libdir\E\/kafka_fdw\.so/,
		"$release: the postmaster loaded the private installation's kafka_fdw.so");
	is($sq->("SELECT default_version FROM pg_available_extensions WHERE name = 'kafka_fdw'"),
		$release, "$release: its extension files are the release's");

	# --- the release, in use -------------------------------------------------
	$sq->(qq{
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$brokers');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
SELECT kafka.create_topic('kafka', 'msgs_$tag', 1);
CREATE FOREIGN TABLE msgs (id int) SERVER kafka OPTIONS (topic 'msgs_$tag', format 'json');
CREATE FOREIGN TABLE msgs_group (id int) SERVER kafka OPTIONS (topic 'msgs_$tag', format 'json', group 'readers_$tag');
CREATE TABLE src (id int PRIMARY KEY, note text);
CREATE PUBLICATION up_pub FOR TABLE src;
SELECT kafka.create_pipeline('$pipeline', 'kafka', 'up_pub');
CREATE TABLE replica (id int, note text);
CREATE FOREIGN TABLE src_feed (id int, note text)
  SERVER kafka OPTIONS (topic '$topic', format 'json', group 'replica_$tag');
CREATE FOREIGN TABLE src_topic (id int, note text) SERVER kafka OPTIONS (topic '$topic', format 'json');
});
	wait_for_topic($node, "msgs_$tag", 0) or BAIL_OUT("topic msgs_$tag has no leader");
	$sq->("INSERT INTO msgs SELECT g FROM generate_series(1, 10) g");
	is($sq->("SELECT string_agg(id::text, ',' ORDER BY id) FROM msgs_group"),
		'1,2,3,4,5,6,7,8,9,10', "$release: a group read commits its positions");

	$sq->("INSERT INTO src SELECT g, 'before' FROM generate_series(1, 100) g");
	ok(wait_for_topic($node, $topic, 100), "$release: the pipeline sends the changes");
	# small batches: the sink is still applying when the server stops
	$sq->("SELECT kafka.create_sink('up_sink', 'src_feed', 'replica', '{\"batch_size\": 10}')");
	is(wait_sql($node, 'SELECT count(*) FROM replica', '100'), '100', "$release: the sink applies them");

	# Traffic: more changes; the server stops once the pipeline confirmed
	# them in its slot (a pipeline re-sends what Kafka had not acknowledged
	# at a shutdown: at least once, docs/pipelines.md), while the sink is
	# still applying them (exactly once, at any point).
	$sq->("INSERT INTO src SELECT g, 'traffic' FROM generate_series(101, 200) g");
	my $lsn = $sq->('SELECT pg_current_wal_lsn()');
	is(wait_sql($node, "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name LIKE 'kafka\\_fdw\\_%'", 't'),
		't', "$release: the pipeline confirmed the traffic");
	note "$release: rows applied by the sink at the stop: " . $sq->('SELECT count(*) FROM replica');

	# --- the upgrade: files, restart, ALTER EXTENSION UPDATE ------------------
	$node->stop;
	install_files("$dir/current");
	my $log_offset = -s $node->logfile;
	$node->start;
	is($sq->("SELECT default_version || ' ' || installed_version FROM pg_available_extensions WHERE name = 'kafka_fdw'"),
		"$current $release", "$release: restarted with the new files, the database still at $release");

	# Between the restart and ALTER EXTENSION UPDATE the workers of the new
	# library wait, saying what to run; changes made meanwhile stay in the slot.
	$sq->("INSERT INTO src SELECT g, 'window' FROM generate_series(201, 300) g");
	my $window_lsn = $sq->('SELECT pg_current_wal_lsn()');
	ok(wait_log($node, qr/WARNING:  kafka_fdw pipeline worker \(slot kafka_fdw_\d+_\Q$pipeline\E\) in database "postgres" waits: the extension is at version \Q$release\E, the library at \Q$current\E/, $log_offset),
		"$release: the pipeline worker waits for the update (WARNING)");
	ok(wait_log($node, qr/WARNING:  kafka_fdw sink lookup worker in database "postgres" waits.*\n.*HINT:  Run ALTER EXTENSION kafka_fdw UPDATE in database "postgres"/, $log_offset),
		"$release: the sink lookup worker waits for the update (WARNING, HINT names the command)");
	is($sq->("SELECT confirmed_flush_lsn < '$window_lsn' FROM pg_replication_slots WHERE slot_name LIKE 'kafka\\_fdw\\_%'"),
		't', "$release: the pipeline did not read on while waiting");

	$sq->('ALTER EXTENSION kafka_fdw UPDATE');
	is($sq->("SELECT extversion FROM pg_extension WHERE extname = 'kafka_fdw'"), $current,
		"$release: ALTER EXTENSION kafka_fdw UPDATE reached $current");
	ok(wait_log($node, qr/kafka_fdw pipeline worker .* in database "postgres": the extension is at version \Q$current\E now, going on/, $log_offset),
		"$release: the pipeline worker goes on (LOG)");
	$sq->("INSERT INTO src SELECT g, 'after' FROM generate_series(301, 400) g");

	# --- nothing lost, nothing repeated --------------------------------------
	is(wait_sql($node, 'SELECT count(*) FROM replica', '400', 90), '400',
		"$release: the sink applied every change");
	is($sq->('SELECT count(*), count(DISTINCT id), min(id), max(id) FROM replica'), '400|400|1|400',
		"$release: ... once each (the sink went on from its group)");
	is($sq->('SELECT count(*), count(DISTINCT id) FROM src_topic'), '400|400',
		"$release: the pipeline sent every change once (it went on from its slot)");
	is($sq->("SELECT string_agg(note || ':' || n, ',' ORDER BY note) FROM (SELECT note, count(*) AS n FROM replica GROUP BY note) s"),
		'after:100,before:100,traffic:100,window:100', "$release: before, during and after the upgrade");
	$sq->("INSERT INTO msgs SELECT g FROM generate_series(11, 15) g");
	is($sq->("SELECT string_agg(id::text, ',' ORDER BY id) FROM msgs_group"),
		'11,12,13,14,15', "$release: the group read continues from its committed positions");
	is($sq->('SELECT count(*) FROM msgs'), '15', "$release: the topic table reads the topic");
	my $pipestate = $sq->("SELECT state FROM kafka.pipeline_status WHERE name = '$pipeline'");
	is($pipestate, 'running', "$release: the pipeline runs");
	is($sq->("SELECT state FROM kafka.sink_status WHERE name = 'up_sink'"), 'running', "$release: the sink runs");

	# --- the same objects as a fresh install ---------------------------------
	$sq->('CREATE DATABASE fresh');
	$node->safe_psql('fresh', 'CREATE EXTENSION kafka_fdw');
	my $upgraded = $node->safe_psql('postgres', $catalog_sql);
	my $fresh = $node->safe_psql('fresh', $catalog_sql);
	cmp_ok(scalar(split /\n/, $fresh), '>', 50, "$release: the catalog query lists the extension's objects");
	my $tmp = PostgreSQL::Test::Utils::tempdir();
	PostgreSQL::Test::Utils::append_to_file("$tmp/fresh", "$fresh\n");
	PostgreSQL::Test::Utils::append_to_file("$tmp/upgraded", "$upgraded\n");
	my $diff = `diff -u $tmp/fresh $tmp/upgraded`;
	ok($diff eq '', "$release: an upgraded database has the same objects as a fresh install")
	  or diag("diff -u fresh upgraded:\n$diff");

	unlike(log_since($node, 0), qr/terminated by signal|was terminated by exception/,
		"$release: no backend crashed");
	$node->stop;
}

done_testing();
