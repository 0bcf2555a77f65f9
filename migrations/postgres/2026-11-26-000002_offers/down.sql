DROP INDEX change_log_entity;
DROP INDEX jobs_technician_window;
DROP TABLE job_explanations;
DROP TABLE offers;
