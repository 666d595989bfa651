-- Merchants: rewards catalogue, settlement, statements
-- (reserved: filled in by its issue)
SELECT 1;
