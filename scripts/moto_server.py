"""moto_server with its Redshift Data API made to finish statements.

Stock moto (5.x) accepts ExecuteStatement but leaves every statement STARTED forever, has no
BatchExecuteStatement, and answers every GetStatementResult with the same three fixed rows. There is
no Redshift behind it, so nothing can really run. This wrapper changes only that service, so the
loader's Data API client can be exercised end to end on loopback:
  * a statement is STARTED on submission and FINISHED on the second DescribeStatement (one poll in flight);
    SQL containing `moto:FAILED` ends FAILED with an error message instead;
  * BatchExecuteStatement exists (sub-statements with their own ids and query ids) and refuses, as the
    Data API does, more than 40 statements or more than 100 KB of SQL (ValidationException);
  * GetStatementResult is empty, except for queries of the load-error views naming the rejected file
    (s3://bucket/in/orders/bad.csv): one rejected row, with the columns the view really has —
    STL_LOAD_ERRORS has the raw line, SYS_LOAD_ERROR_DETAIL has none, and a query of its `raw_line` fails
    as it would on Redshift.
Everything else (S3, SQS, ...) is moto as shipped. What this proves and what it cannot is in README → Redshift.
"""
import json
import sys

import moto.redshiftdata.models as models
from moto.core.exceptions import JsonRESTError
import moto.redshiftdata.responses as responses
from moto.server import main

_describe = models.RedshiftDataAPIServiceBackend.describe_statement
_iter = models.Statement.__iter__


def describe_statement(self, statement_id):
    st = _describe(self, statement_id.split(":")[0])
    st.polls = getattr(st, "polls", 0) + 1
    if st.status == "STARTED" and st.polls >= 2:
        q = st.query_string.lower()
        no_column = "sys_load_error_detail" in q and "raw_line" in q
        failed = "moto:FAILED" in st.query_string or no_column
        st.status = "FAILED" if failed else "FINISHED"
        st.error = ('ERROR: column "raw_line" does not exist' if no_column
                    else "Load into table failed. Check 'sys_load_error_detail' system table for details." if failed else None)
        st.has_result_set = st.query_string.lstrip().upper().startswith("SELECT")
        for sub in st.sub_statements:
            sub["Status"] = st.status
    return st


def statement_iter(self):
    for k, v in _iter(self):
        yield k, v
    if getattr(self, "error", None):
        yield "Error", self.error


def get_statement_result(self, statement_id):
    st = _describe(self, statement_id.split(":")[0])
    rows = []
    q = st.query_string.lower()
    if "'s3://bucket/in/orders/bad.csv'" in q and ("sys_load_error_detail" in q or "stl_load_errors" in q):
        raw = "3,abc,2024-01-01" if "stl_load_errors" in q else ""  # the SYS view has no raw line
        rows = [[{"stringValue": "s3://bucket/in/orders/bad.csv"}, {"longValue": 3}, {"stringValue": "amount"},
                 {"stringValue": raw}, {"stringValue": "Invalid digit, Value 'a', Pos 0, Type: Decimal"}]]
    return models.StatementResult([], rows, len(rows))


def batch_execute_statement(self):
    sqls = self._get_param("Sqls")
    if len(sqls) > 40 or sum(len(q.encode()) for q in sqls) > 100 * 1024:
        raise JsonRESTError("ValidationException", f"a batch takes 1 to 40 statements and 100 KB of SQL; got {len(sqls)} statements")
    st = self.redshiftdata_backend.execute_statement(
        cluster_identifier=self._get_param("ClusterIdentifier"), database=self._get_param("Database"),
        db_user=self._get_param("DbUser"), parameters=None, secret_arn=self._get_param("SecretArn"),
        sql=";\n".join(sqls))
    st.sub_statements = [{"Id": f"{st.id}:{i + 1}", "QueryString": q, "Status": "STARTED",
                          "RedshiftQueryId": st.redshift_query_id + i} for i, q in enumerate(sqls)]
    return 200, {}, json.dumps({"Id": st.id, "Database": st.database, "ClusterIdentifier": st.cluster_identifier,
                                "WorkgroupName": self._get_param("WorkgroupName")})


models.RedshiftDataAPIServiceBackend.describe_statement = describe_statement
models.RedshiftDataAPIServiceBackend.get_statement_result = get_statement_result
models.Statement.__iter__ = statement_iter
responses.RedshiftDataAPIServiceResponse.batch_execute_statement = batch_execute_statement

if __name__ == "__main__":
    main(sys.argv[1:])
