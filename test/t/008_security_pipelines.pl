# Security of CDC pipelines (issue 18: findings 2, 6, 10, 12, and workers
# that run as the owner of the work).  Every attack is made by plain roles,
#   role_a  LOGIN, USAGE on the server and on schema kafka (attacker)
#   role_b  the same (a bystander, or a victim)
#   role_r  LOGIN REPLICATION, the same grants (may own pipelines)
# and must end in an error or a no-op, never in privilege or data: after each
# one the attacker is still no superuser, and the file that the planted
# function's COPY ... TO PROGRAM 'touch FILE' would create (had it run as a
# superuser) does not exist.
#   2.  pause/resume/drop_pipeline under an attacker's search_path with an
#       operator = on (text, text); create_pipeline with an operator ->> on
#       (jsonb, text): nothing of theirs runs as a superuser;
#   6.  create_pipeline needs to own the publication and SELECT on its
#       tables; a running pipeline whose owner lost SELECT on a table,
#       REPLICATION or USAGE on the server stops with last_error (at the
#       table's next change, or the worker's next start) and sends nothing
#       more; its worker connects as the owner; an owner that was dropped
#       stops its pipeline with a clear last_error;
#   10. last_error of pipeline_status (and of kafka._pipeline_workers) is
#       shown only to roles with the privileges of the pipeline's owner;
#   12. kafka_fdw.max_pipelines_per_role: a quota per role, superusers
#       exempt, not settable by the role itself.
use strict;
use warnings;

use File::Spec;
use FindBin;
use lib $FindBin::RealBin;
use KafkaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

brokers();
my $node = kafka_node('sec_pipes');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run
# absolute: the planted command would run in the server's data directory
my $dir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir);

sub sq { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

# Runs $sql logged in as $role (a session of its own); returns (rc, out, err).
sub as_role
{
	my ($role, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $role, '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $out, $err);
}

sub wait_for
{
	my ($sql, $want, $timeout) = @_;
	$timeout //= 60;
	my $t0 = time();
	my $got;
	while (time() - $t0 < $timeout)
	{
		$got = sq($sql);
		return $got if $got eq $want;
		sleep 0.2;
	}
	return $got;
}

# Number of messages in a topic (0 when it does not exist yet).
sub topic_count
{
	my ($topic) = @_;
	return sq("SELECT CASE WHEN EXISTS (SELECT 1 FROM kafka.topics('kafka') WHERE topic = '$topic') "
		  . "THEN (SELECT count(*) FROM kafka.consume('kafka', '$topic')) ELSE 0 END");
}

sub wait_count
{
	my ($topic, $n, $timeout) = @_;
	my $t0 = time();
	my $got;
	while (time() - $t0 < ($timeout // 60))
	{
		$got = topic_count($topic);
		return $got if $got >= $n;
		sleep 0.3;
	}
	return $got;
}

# The marker file of an attack, and the check that follows every attack.
my $n_marker = 0;
sub marker { $n_marker++; return "$dir/pwned_$n_marker"; }

sub not_escalated
{
	my ($role, $file, $what) = @_;
	is(sq("SELECT rolsuper FROM pg_roles WHERE rolname = '$role'"), 'f', "$what: $role is no superuser");
	ok(!-e $file, "$what: the planted COPY ... TO PROGRAM did not run");
}

# An operator $op on ($left, $right) in schema $role whose function, when it
# runs as a superuser, touches $file and makes $role a superuser; else it
# does what the built-in operator does.
sub plant_operator
{
	my ($role, $op, $left, $right, $ret, $file) = @_;
	my $fn = "evil_" . ($op eq '=' ? 'eq' : 'get') . "_$n_marker";
	my ($rc, $out, $err) = as_role($role, qq{
CREATE FUNCTION $role.$fn(a $left, b $right) RETURNS $ret LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
    EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch $file''';
    EXECUTE 'ALTER ROLE $role SUPERUSER';
  END IF;
  RETURN a OPERATOR(pg_catalog.$op) b;
END \$f\$;
CREATE OPERATOR $role.$op (LEFTARG = $left, RIGHTARG = $right, FUNCTION = $role.$fn);
});
	is($rc, 0, "$role plants an operator $op on ($left, $right)") or diag $err;
	return;
}

sq(qq{
CREATE ROLE role_a LOGIN;
CREATE ROLE role_b LOGIN;
CREATE ROLE role_r LOGIN REPLICATION;
GRANT USAGE ON FOREIGN SERVER kafka TO role_a, role_b, role_r;
GRANT USAGE ON SCHEMA kafka TO role_a, role_b, role_r;
CREATE SCHEMA role_a AUTHORIZATION role_a;
CREATE SCHEMA role_r AUTHORIZATION role_r;
GRANT CREATE ON DATABASE postgres TO role_r;   -- for its own publications
-- the admin's data, and a pipeline over it
CREATE TABLE orders (id int PRIMARY KEY, secret text);
INSERT INTO orders SELECT g, 'secret ' || g FROM generate_series(1, 5) g;
CREATE PUBLICATION admin_pub FOR TABLE orders;
SELECT kafka.create_pipeline('admin$run', 'kafka', 'admin_pub');
});
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'admin$run'", 'running'), 'running',
	"the admin's pipeline runs");
is(sq("SELECT a.usename FROM pg_stat_activity a JOIN kafka.pipeline_status s ON s.worker_pid = a.pid WHERE s.name = 'admin$run'"),
	sq('SELECT current_user'), 'its worker is connected as its owner (the admin)');

# ---------------------------------------------------------------------------
# Finding 2: the management functions under an attacker's search_path.
{
	my $f = marker();
	plant_operator('role_a', '=', 'text', 'text', 'boolean', $f);
	for my $fn (qw(pause_pipeline resume_pipeline drop_pipeline restore_pipeline))
	{
		for my $target ('nonexistent', "admin$run")
		{
			my ($rc, $out, $err) = as_role('role_a',
				"SET search_path = role_a, pg_catalog; SELECT kafka.$fn('$target')");
			isnt($rc, 0, "role_a: $fn('$target') fails");
			like($err, $target eq 'nonexistent' ? qr/does not exist/ : qr/permission denied to manage pipeline/,
				"role_a: $fn('$target') says why");
		}
	}
	not_escalated('role_a', $f, 'finding 2, pause/resume/drop');
	is(sq("SELECT paused::text FROM kafka.pipelines WHERE name = 'admin$run'"), 'false',
		"the admin's pipeline is untouched");
}

# Finding 2 through create_pipeline: an operator ->> on (jsonb, text), with
# role_r's own publication (the INSERT of the row used $4->>'snapshot').
my $own = "own$run";
{
	my $f = marker();
	plant_operator('role_r', '->>', 'jsonb', 'text', 'text', $f);
	my ($rc, $out, $err) = as_role('role_r', qq{
CREATE TABLE role_r.mine (id int PRIMARY KEY, v text);
INSERT INTO role_r.mine VALUES (1, 'one');
CREATE PUBLICATION mine_pub FOR TABLE role_r.mine;
});
	is($rc, 0, 'role_r makes a table and a publication of its own') or diag $err;
	($rc, $out, $err) = as_role('role_r',
		"SET search_path = role_r, pg_catalog; SELECT kafka.create_pipeline('$own', 'kafka', 'mine_pub', '{\"snapshot\": true}')");
	is($rc, 0, 'role_r creates a pipeline over its own publication') or diag $err;
	not_escalated('role_r', $f, 'finding 2, create_pipeline');
	($rc, $out, $err) = as_role('role_r',
		"SET search_path = role_r, pg_catalog; SELECT kafka.pause_pipeline('$own'); SELECT kafka.resume_pipeline('$own')");
	is($rc, 0, 'role_r pauses and resumes it, under the same search_path') or diag $err;
	not_escalated('role_r', $f, 'finding 2, pause/resume by the owner');
}
is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = '$own'", 'done'), 'done',
	"role_r's pipeline takes its snapshot");
is(wait_count("$own.role_r.mine", 1), 1, 'of its own table');
is(wait_for("SELECT a.usename FROM pg_stat_activity a JOIN kafka.pipeline_status s ON s.worker_pid = a.pid WHERE s.name = '$own'", 'role_r'),
	'role_r', "its worker is connected as role_r, the pipeline's owner");

# ---------------------------------------------------------------------------
# Finding 6: what a pipeline's owner needs at creation.
{
	my ($rc, $out, $err) = as_role('role_r',
		"SELECT kafka.create_pipeline('steal$run', 'kafka', 'admin_pub', '{\"snapshot\": true}')");
	isnt($rc, 0, "role_r cannot create a pipeline over the admin's publication");
	like($err, qr/role "role_r" does not own publication "admin_pub"/, 'it does not own it');
	# a publication handed to role_r, of a table it may not read
	sq("CREATE PUBLICATION handed_pub FOR TABLE orders; ALTER PUBLICATION handed_pub OWNER TO role_r;");
	($rc, $out, $err) = as_role('role_r',
		"SELECT kafka.create_pipeline('steal$run', 'kafka', 'handed_pub', '{\"snapshot\": true}')");
	isnt($rc, 0, 'nor over a publication it owns of a table it may not read');
	like($err, qr/role "role_r" has no SELECT privilege on table public\.orders/, 'SELECT on the table is missing');
	($rc, $out, $err) = as_role('role_a', "SELECT kafka.create_pipeline('steal$run', 'kafka', 'admin_pub')");
	like($err, qr/permission denied to create a pipeline/, 'a role without REPLICATION cannot create one');
	is(sq("SELECT count(*) FROM kafka.pipelines WHERE name = 'steal$run'") . ' '
		  . sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%steal$run'"),
		'0 0', 'no pipeline, no slot');
	is(topic_count("steal$run.public.orders"), 0, 'and no row of orders in Kafka');
}

# A pipeline whose owner loses what it needs stops and sends nothing more.
my $rp = "rp$run";
my $rtopic = "$rp.public.shared";
sq(qq{
CREATE TABLE shared (id int PRIMARY KEY, v text);
GRANT SELECT ON shared TO role_r;
CREATE PUBLICATION shared_pub FOR TABLE shared;
ALTER PUBLICATION shared_pub OWNER TO role_r;
});
{
	my ($rc, $out, $err) = as_role('role_r', "SELECT kafka.create_pipeline('$rp', 'kafka', 'shared_pub')");
	is($rc, 0, 'role_r creates a pipeline over a publication it owns, of a table it may read') or diag $err;
}
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$rp'", 'running'), 'running', 'it runs');
sq("INSERT INTO shared VALUES (1, 'granted')");
is(wait_count($rtopic, 1), 1, 'and sends the row');

sub restart_worker
{
	my ($name) = @_;
	sq("SELECT kafka.pause_pipeline('$name')");
	wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$name'", 'paused', 30);
	sq("SELECT kafka.resume_pipeline('$name')");
	return;
}

# The server's clock, to tell a new last_error from an old one.
sub server_now { return sq('SELECT clock_timestamp()'); }

# Waits for the pipeline to stop with last_error matching $re, recorded after
# $since.
sub stops_with
{
	my ($name, $re, $what, $since) = @_;
	my $t0 = time();
	my ($state, $error) = ('', '');
	while (time() - $t0 < 60)
	{
		($state, $error) = split /\|/,
		  sq("SELECT state || '|' || coalesce(last_error, '') FROM kafka.pipeline_status WHERE name = '$name' "
			  . "AND last_error_at >= '$since'"), 2;
		$state //= '';
		$error //= '';
		last if $state eq 'retrying' && $error =~ $re;
		sleep 0.2;
	}
	is($state, 'retrying', "$what: the pipeline stops (retrying)");
	like($error, $re, "$what: last_error says why");
	return;
}

sub sends_nothing_more
{
	my ($topic, $n, $what) = @_;
	sleep 3;
	is(topic_count($topic), $n, "$what: nothing more reaches the topic");
	return;
}

# SELECT revoked: the next change of the table (pgoutput describes it again
# after the ACL changed) stops the worker.
my $t = server_now();
sq("REVOKE SELECT ON shared FROM role_r; INSERT INTO shared VALUES (2, 'after REVOKE SELECT')");
stops_with($rp, qr/role "role_r" has no SELECT privilege on table public\.shared/, 'SELECT revoked', $t);
sends_nothing_more($rtopic, 1, 'SELECT revoked');
$t = server_now();
restart_worker($rp);
stops_with($rp, qr/has no SELECT privilege on table public\.shared/, 'SELECT revoked, after a restart', $t);

# Finding 10: last_error is for the owner's eyes (it can quote what the
# worker sends).  A pipeline of role_r whose topics the broker refuses:
is((as_role('role_r', "SELECT kafka.create_pipeline('bad$run', 'kafka', 'mine_pub', '{\"replication_factor\": 5}')"))[0],
	0, 'role_r creates a pipeline whose topics the broker will refuse');
as_role('role_r', "INSERT INTO role_r.mine VALUES (2, 'two')");
is(wait_for("SELECT last_error IS NOT NULL FROM kafka.pipeline_status WHERE name = 'bad$run'", 't'), 't',
	'it has a last_error');
for my $p ("bad$run", $rp)
{
	my ($rc, $out, $err) = as_role('role_b',
		"SELECT (last_error IS NULL)::text || ' ' || (last_error_at IS NULL)::text FROM kafka.pipeline_status WHERE name = '$p'");
	is($out, 'true true', "role_b sees no last_error of role_r's pipeline $p") or diag $err;
	($rc, $out, $err) = as_role('role_r',
		"SELECT (last_error IS NOT NULL)::text FROM kafka.pipeline_status WHERE name = '$p'");
	is($out, 'true', "role_r, its owner, sees it") or diag $err;
	is(sq("SELECT (last_error IS NOT NULL)::text FROM kafka.pipeline_status WHERE name = '$p'"), 'true',
		'and so does a superuser');
}
{
	my ($rc, $out, $err) = as_role('role_b',
		"SELECT count(*) FROM kafka._pipeline_workers() WHERE last_error IS NOT NULL OR last_error_at IS NOT NULL");
	is($out, '0', 'nor through kafka._pipeline_workers()') or diag $err;
	($rc, $out, $err) = as_role('role_r', "SELECT kafka.drop_pipeline('bad$run')");
	is($rc, 0, 'role_r drops that pipeline') or diag $err;
}

sq("GRANT SELECT ON shared TO role_r");
restart_worker($rp);
is(wait_count($rtopic, 2), 2, 'SELECT granted again: the row held back arrives (nothing was lost)');

# REPLICATION revoked: the next start (here: the worker is terminated).
$t = server_now();
sq("ALTER ROLE role_r NOREPLICATION");
sq("SELECT pg_terminate_backend(worker_pid) FROM kafka.pipeline_status WHERE name = '$rp'");
sq("INSERT INTO shared VALUES (3, 'after NOREPLICATION')");
stops_with($rp, qr/role "role_r" has neither the REPLICATION attribute nor superuser/, 'NOREPLICATION', $t);
sends_nothing_more($rtopic, 2, 'NOREPLICATION');
sq("ALTER ROLE role_r REPLICATION");
restart_worker($rp);
is(wait_count($rtopic, 3), 3, 'REPLICATION again: the row arrives');

# USAGE on the server revoked: the next start (pause and resume).
$t = server_now();
sq("REVOKE USAGE ON FOREIGN SERVER kafka FROM role_r");
restart_worker($rp);
sq("INSERT INTO shared VALUES (4, 'after REVOKE USAGE')");
stops_with($rp, qr/role "role_r" has no USAGE privilege on server "kafka"/, 'USAGE revoked', $t);
sends_nothing_more($rtopic, 3, 'USAGE revoked');
sq("GRANT USAGE ON FOREIGN SERVER kafka TO role_r");
restart_worker($rp);
is(wait_count($rtopic, 4), 4, 'USAGE again: the row arrives');

# The publication handed to another role: role_r no longer owns it.
$t = server_now();
sq("ALTER PUBLICATION shared_pub OWNER TO role_b");
restart_worker($rp);
sq("INSERT INTO shared VALUES (5, 'after the publication changed hands')");
stops_with($rp, qr/role "role_r" does not own publication "shared_pub"/, 'publication handed over', $t);
sends_nothing_more($rtopic, 4, 'publication handed over');
sq("ALTER PUBLICATION shared_pub OWNER TO role_r");
restart_worker($rp);
is(wait_count($rtopic, 5), 5, 'owner of the publication again: the row arrives');

# Row security would hide rows from the owner: the pipeline refuses the table.
$t = server_now();
sq("ALTER TABLE shared ENABLE ROW LEVEL SECURITY; CREATE POLICY only_one ON shared TO role_r USING (id = 1);");
restart_worker($rp);
sq("INSERT INTO shared VALUES (6, 'under row security')");
stops_with($rp, qr/row-level security applies to role "role_r" on table public\.shared/, 'row security', $t);
sends_nothing_more($rtopic, 5, 'row security');
sq("ALTER TABLE shared DISABLE ROW LEVEL SECURITY");
restart_worker($rp);
is(wait_count($rtopic, 6), 6, 'without row security: the row arrives');

# A dropped owner: the pipeline stops with a clear last_error; its worker
# never runs as another role.  DROP ROLE is refused in the pipeline's
# database (and anywhere while the role owns the publication); from another
# database it cannot be (pg_shdepend cannot record a row of kafka.pipelines).
my $dp = "dp$run";
sq(qq{
CREATE ROLE role_d LOGIN REPLICATION;
GRANT USAGE ON FOREIGN SERVER kafka TO role_d;
GRANT USAGE ON SCHEMA kafka TO role_d;
CREATE TABLE dtab (id int PRIMARY KEY);
GRANT SELECT ON dtab TO role_d;
CREATE PUBLICATION d_pub FOR TABLE dtab;
ALTER PUBLICATION d_pub OWNER TO role_d;
});
{
	my ($rc, $out, $err) = as_role('role_d', "SELECT kafka.create_pipeline('$dp', 'kafka', 'd_pub')");
	is($rc, 0, 'role_d creates a pipeline') or diag $err;
}
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$dp'", 'running'), 'running', 'it runs');
sq("INSERT INTO dtab VALUES (1)");
is(wait_count("$dp.public.dtab", 1), 1, 'and sends');
{
	my ($rc, $out, $err) = $node->psql('template1', 'DROP ROLE role_d');
	like($err, qr/role "role_d" cannot be dropped because some objects depend on it/,
		'DROP ROLE is refused while the role owns the publication (and has grants)');
	sq("REASSIGN OWNED BY role_d TO CURRENT_USER; DROP OWNED BY role_d;");
	($rc, $out, $err) = $node->psql('postgres', 'DROP ROLE role_d');
	like($err, qr/role "role_d" cannot be dropped because it owns kafka_fdw work in this database/,
		"and in the pipeline's database while it owns the pipeline");
}
my $doid = sq("SELECT oid FROM pg_roles WHERE rolname = 'role_d'");
$t = server_now();
sq("SELECT pg_terminate_backend(worker_pid) FROM kafka.pipeline_status WHERE name = '$dp'");
wait_for("SELECT count(*) FROM pg_stat_activity WHERE usename = 'role_d'", '0', 30);
$node->safe_psql('template1', 'DROP ROLE role_d');
sq("INSERT INTO dtab VALUES (2)");
stops_with($dp, qr/its owner \(role with OID $doid\) does not exist/, 'owner dropped', $t);
sends_nothing_more("$dp.public.dtab", 1, 'owner dropped');
sq("SELECT kafka.drop_pipeline('$dp')");

# The worker backs off: no hot loop of starts while a pipeline cannot run.
{
	$t = server_now();
	sq("REVOKE SELECT ON shared FROM role_r");
	restart_worker($rp);
	stops_with($rp, qr/no SELECT privilege/, 'backoff', $t);
	# each failed start records its error anew (a start lasts milliseconds:
	# count the distinct last_error_at values)
	my %seen;
	my $t0 = time();
	while (time() - $t0 < 12)
	{
		$seen{ sq("SELECT last_error_at FROM kafka.pipeline_status WHERE name = '$rp'") } = 1;
		sleep 0.2;
	}
	my $starts = scalar(keys %seen) - 1;
	# the backoff grows to 10 s between starts (a hot loop: one every few ms)
	ok($starts >= 1 && $starts <= 6, "a pipeline that cannot run is started again, with a backoff ($starts starts in 12 s)");
	sq("GRANT SELECT ON shared TO role_r");
}

# ---------------------------------------------------------------------------
# Finding 12: a quota per role.
{
	is(sq('SHOW kafka_fdw.max_pipelines_per_role'), '4', 'kafka_fdw.max_pipelines_per_role defaults to 4');
	# KafkaTest.pm sets it in postgresql.conf: reserving the kafka_fdw prefix
	# before the preload-only settings were defined used to drop the value
	is(sq('SHOW kafka_fdw.max_pipelines'), '16', 'kafka_fdw.max_pipelines from postgresql.conf is kept');
	my ($rc, $out, $err) = as_role('role_r', 'SET kafka_fdw.max_pipelines_per_role = 100');
	like($err, qr/permission denied to set parameter/, 'a role cannot raise its own quota');
	sq("ALTER SYSTEM SET kafka_fdw.max_pipelines_per_role = 3; SELECT pg_reload_conf();");
	sleep 1;
	# role_r owns 2 pipelines ($own, $rp): one more is allowed, not two
	($rc, $out, $err) = as_role('role_r', "SELECT kafka.create_pipeline('q1$run', 'kafka', 'mine_pub')");
	is($rc, 0, 'role_r creates its third pipeline') or diag $err;
	($rc, $out, $err) = as_role('role_r', "SELECT kafka.create_pipeline('q2$run', 'kafka', 'mine_pub')");
	isnt($rc, 0, 'but not a fourth');
	like($err, qr/too many pipelines for role "role_r": kafka_fdw.max_pipelines_per_role is 3/, 'the quota says so');
	like($err, qr/The role owns 3 pipelines/, 'with the count');
	is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%q2$run'"), '0', 'and leaves no slot');
	# in another database too: the quota is per role in the cluster
	sq('CREATE DATABASE db2');
	my $b = brokers();
	$node->safe_psql('db2', qq{
CREATE EXTENSION kafka_fdw; CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$b');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
GRANT USAGE ON FOREIGN SERVER kafka TO role_r; GRANT USAGE ON SCHEMA kafka TO role_r;
CREATE TABLE t (id int PRIMARY KEY); GRANT SELECT ON t TO role_r;
CREATE PUBLICATION p FOR TABLE t; ALTER PUBLICATION p OWNER TO role_r;
});
	($rc, $out, $err) = $node->psql('db2', "SELECT kafka.create_pipeline('q3$run', 'kafka', 'p')",
		extra_params => [ '-U', 'role_r' ]);
	like($err, qr/too many pipelines for role "role_r"/, 'nor one in another database');
	($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('q4$run', 'kafka', 'admin_pub')");
	is($rc, 0, 'superusers are exempt') or diag $err;
	sq("SELECT kafka.drop_pipeline('q4$run')");
	($rc, $out, $err) = as_role('role_r', "SELECT kafka.drop_pipeline('q1$run')");
	is($rc, 0, 'role_r drops one of its pipelines') or diag $err;
	($rc, $out, $err) = $node->psql('db2', "SELECT kafka.create_pipeline('q3$run', 'kafka', 'p')",
		extra_params => [ '-U', 'role_r' ]);
	is($rc, 0, 'then it may create one (in the other database)') or diag $err;
	is(wait_for("SELECT a.usename FROM pg_stat_activity a WHERE a.backend_type = 'kafka_fdw pipeline' AND a.datname = 'db2'", 'role_r'),
		'role_r', 'which runs as role_r');
	($rc, $out, $err) = as_role('role_r', "SELECT kafka.create_pipeline('q5$run', 'kafka', 'mine_pub')");
	like($err, qr/too many pipelines for role "role_r"/, 'and counts against its quota here');
	$node->safe_psql('db2', "SELECT kafka.drop_pipeline('q3$run')");
	sq("ALTER SYSTEM RESET kafka_fdw.max_pipelines_per_role; SELECT pg_reload_conf();");
}

sq("SELECT kafka.drop_pipeline(name) FROM kafka.pipelines");
is(sq('SELECT count(*) FROM pg_replication_slots'), '0', 'every pipeline dropped');
for my $r (qw(role_a role_b role_r))
{
	is(sq("SELECT rolsuper FROM pg_roles WHERE rolname = '$r'"), 'f', "at the end $r is no superuser");
}
my @markers = glob("$dir/pwned_*");
is(scalar @markers, 0, 'no planted COPY ... TO PROGRAM ran');
ok(!log_has_crash($node), 'no backend crashed');
$node->stop;
done_testing();
