-- Earning: places, residents, activity rules, attendance, budgets
-- (reserved: filled in by its issue)
SELECT 1;
