DROP TABLE scorecard_jobs;
DROP TABLE scorecard_days;
DROP TABLE surveys;
