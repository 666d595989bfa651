-- Audit: checkpoints and reconciliation support
-- (reserved: filled in by its issue)
SELECT 1;
