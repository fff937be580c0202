-- A SQLite file written by the code before Alembic (schema version 3, PRAGMA
-- user_version = 3): its schema and a little data, as sqlite3's iterdump wrote
-- them. Frozen: tests/test_migrations.py upgrades it.
BEGIN TRANSACTION;
CREATE TABLE analyses (
	interview_id VARCHAR(36) NOT NULL, 
	quality_score DOUBLE NOT NULL, 
	quality JSON NOT NULL, 
	counts_toward_usage BOOLEAN NOT NULL, 
	themes JSON NOT NULL, 
	insights JSON NOT NULL, 
	stages JSON NOT NULL, 
	transcript_sha256 VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (interview_id), 
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);
CREATE TABLE api_keys (
	id VARCHAR(36) NOT NULL, 
	project_id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	display_prefix VARCHAR(16) NOT NULL, 
	permissions VARCHAR(200) NOT NULL, 
	rate_limit_per_minute INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(project_id) REFERENCES projects (id), 
	UNIQUE (key_hash)
);
INSERT INTO "api_keys" VALUES('43216c6e-2420-4454-837b-71d619973e9d','0695351f-2a1d-4d68-9f06-b0d50a97aee9','legacy key','512c0cd11dafcc5a6eab55610515f4ee161f0e547fc56bd6fd1cbe91def11d85','koji_sk_WCQi','interview:chat,interview:complete,interview:read,interview:start',60,'2026-11-29 01:11:02.000000',NULL);
CREATE TABLE events (
	id VARCHAR(36) NOT NULL, 
	project_id VARCHAR(36) NOT NULL, 
	interview_id VARCHAR(36) NOT NULL, 
	type VARCHAR(64) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (interview_id, type), 
	FOREIGN KEY(project_id) REFERENCES projects (id), 
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);
CREATE TABLE interviews (
	id VARCHAR(36) NOT NULL, 
	project_id VARCHAR(36) NOT NULL, 
	study_id VARCHAR(36) NOT NULL, 
	session_token_hash VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	locale VARCHAR(35) NOT NULL, 
	respondent_external_id VARCHAR(200) NOT NULL, 
	respondent_display_name VARCHAR(200) NOT NULL, 
	respondent_metadata JSON, 
	question_index INTEGER NOT NULL, 
	follow_up_asked BOOLEAN NOT NULL, 
	respondent_messages INTEGER NOT NULL, 
	interviewer_messages INTEGER NOT NULL, 
	started_at DATETIME NOT NULL, 
	completed_at DATETIME, 
	reason VARCHAR(32), 
	feedback JSON, 
	analysis_status VARCHAR(16), 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(project_id) REFERENCES projects (id), 
	FOREIGN KEY(study_id) REFERENCES studies (id)
);
INSERT INTO "interviews" VALUES('07311cd1-5275-4d70-bb28-066369d1b070','0695351f-2a1d-4d68-9f06-b0d50a97aee9','8827d515-84d4-4c21-a273-6180c0692866','d4df8b8ea0eca9e66b9546378193bcdcf6c09bb1b4b6315abcf34742da6054ae','concluded','text','en','ext-1','Ana','{"plan": "pro"}',1,0,1,2,'2026-11-29 01:11:02.000000',NULL,NULL,NULL,NULL,'2026-11-29 01:11:02.885000');
CREATE TABLE job_attempts (
	id VARCHAR(36) NOT NULL, 
	job_id VARCHAR(36) NOT NULL, 
	worker_id VARCHAR(100) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	outcome VARCHAR(16), 
	error TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);
CREATE TABLE jobs (
	id VARCHAR(36) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	interview_id VARCHAR(36) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	run_after DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_error TEXT, 
	claim_token VARCHAR(36), 
	claimed_by VARCHAR(100), 
	lease_expires_at DATETIME, 
	finished_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (kind, interview_id), 
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);
CREATE TABLE messages (
	id VARCHAR(36) NOT NULL, 
	interview_id VARCHAR(36) NOT NULL, 
	seq INTEGER NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	content TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (interview_id, seq), 
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);
INSERT INTO "messages" VALUES('3227721e-b448-44e0-913d-75634153c102','07311cd1-5275-4d70-bb28-066369d1b070',1,'interviewer','Hi Ana! Thanks for taking the time to talk with us about legacy study. What did you try first?','2026-11-29 01:11:02.000000');
INSERT INTO "messages" VALUES('eeb24020-80a3-4305-b0c4-c11d5587b957','07311cd1-5275-4d70-bb28-066369d1b070',2,'respondent','A colleague told me','2026-11-29 01:11:02.000000');
INSERT INTO "messages" VALUES('c5c1566b-26a9-47b9-bf51-b5d86863d5b8','07311cd1-5275-4d70-bb28-066369d1b070',3,'interviewer','That''s everything I wanted to ask. Thank you for your time and for sharing your experience. Goodbye!','2026-11-29 01:11:02.000000');
CREATE TABLE projects (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "projects" VALUES('0695351f-2a1d-4d68-9f06-b0d50a97aee9','Legacy project','2026-11-29 01:11:02.000000');
CREATE TABLE studies (
	id VARCHAR(36) NOT NULL, 
	project_id VARCHAR(36) NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	questions JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(project_id) REFERENCES projects (id)
);
INSERT INTO "studies" VALUES('8827d515-84d4-4c21-a273-6180c0692866','0695351f-2a1d-4d68-9f06-b0d50a97aee9','legacy study','["What did you try first?"]','2026-11-29 01:11:02.000000');
CREATE TABLE study_reports (
	study_id VARCHAR(36) NOT NULL, 
	project_id VARCHAR(36) NOT NULL, 
	report JSON NOT NULL, 
	state TEXT NOT NULL, 
	included JSON NOT NULL, 
	version INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (study_id), 
	FOREIGN KEY(study_id) REFERENCES studies (id), 
	FOREIGN KEY(project_id) REFERENCES projects (id)
);
CREATE TABLE webhook_attempts (
	id VARCHAR(36) NOT NULL, 
	delivery_id VARCHAR(36) NOT NULL, 
	attempted_at DATETIME NOT NULL, 
	status_code INTEGER, 
	latency_ms DOUBLE NOT NULL, 
	error TEXT, 
	response_excerpt TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(delivery_id) REFERENCES webhook_deliveries (id)
);
CREATE TABLE webhook_deliveries (
	id VARCHAR(36) NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	endpoint_id VARCHAR(36) NOT NULL, 
	interview_id VARCHAR(36) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claim_token VARCHAR(36), 
	lease_expires_at DATETIME, 
	last_status_code INTEGER, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (event_id, endpoint_id), 
	FOREIGN KEY(event_id) REFERENCES events (id), 
	FOREIGN KEY(endpoint_id) REFERENCES webhook_endpoints (id), 
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);
CREATE TABLE webhook_endpoints (
	id VARCHAR(36) NOT NULL, 
	project_id VARCHAR(36) NOT NULL, 
	url TEXT NOT NULL, 
	events JSON NOT NULL, 
	secret VARCHAR(100) NOT NULL, 
	previous_secret VARCHAR(100), 
	previous_secret_expires_at DATETIME, 
	created_at DATETIME NOT NULL, 
	removed_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(project_id) REFERENCES projects (id)
);
CREATE INDEX ix_api_keys_project_id ON api_keys (project_id);
CREATE INDEX ix_studies_project_id ON studies (project_id);
CREATE INDEX ix_webhook_endpoints_project_id ON webhook_endpoints (project_id);
CREATE INDEX ix_interviews_study_id ON interviews (study_id);
CREATE INDEX ix_interviews_listing ON interviews (study_id, updated_at, id);
CREATE INDEX ix_interviews_project_id ON interviews (project_id);
CREATE INDEX ix_study_reports_project_id ON study_reports (project_id);
CREATE INDEX ix_jobs_ready ON jobs (status, run_after);
CREATE INDEX ix_events_project_id ON events (project_id);
CREATE INDEX ix_job_attempts_job_id ON job_attempts (job_id);
CREATE INDEX ix_webhook_deliveries_ready ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX ix_webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id);
CREATE INDEX ix_webhook_deliveries_interview_id ON webhook_deliveries (interview_id);
CREATE INDEX ix_webhook_attempts_delivery_id ON webhook_attempts (delivery_id);
CREATE TRIGGER interviews_touch AFTER UPDATE ON interviews
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE interviews SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
  WHERE id = NEW.id;
END;
PRAGMA user_version = 3;
COMMIT;
