CREATE OR REPLACE TRIGGER insight_activities_held AFTER UPDATE OF status ON activities
    FOR EACH ROW WHEN (NEW.status = 'closed' AND OLD.status IS DISTINCT FROM 'closed')
    EXECUTE FUNCTION insight_activities_held();
