"""The script an operator would write with Huawei's official SDK: a 32-thread pool, no rate
limiting, a simple retry on any exception, one CSV line per card (iccid,outcome).

    python sdk_threadpool.py check|clear INPUT.csv OUT.csv ENDPOINT

Credentials from HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK / HUAWEICLOUD_SDK_PROJECT_ID, as in
Huawei's examples. outcome: `true`/`false` (check), the work_order_id (clear), or `error:...`.
"""
import csv
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkgsl.v3 import DeleteRealNameRequest, GslClient, ShowRealNamedRequest

op, inp, out, endpoint = sys.argv[1:5]
creds = BasicCredentials(os.environ["HUAWEICLOUD_SDK_AK"], os.environ["HUAWEICLOUD_SDK_SK"],
                         os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID"))
client = GslClient.new_builder().with_credentials(creds).with_endpoints([endpoint]).build()


def one(iccid):
    for attempt in range(3):
        try:
            if op == "check":
                r = client.show_real_named(ShowRealNamedRequest(sim_card_id=0, iccid=iccid))
                return iccid, str(r.real_named).lower()
            r = client.delete_real_name(DeleteRealNameRequest(sim_card_id=0, iccid=iccid))
            return iccid, str(r.work_order_id)
        except ClientRequestException as e:
            err = f"error:{e.status_code}:{e.error_code}"
        except Exception as e:  # connection reset, timeout, ...
            err = f"error:{type(e).__name__}"
        time.sleep(0.5)
    return iccid, err


with open(inp, newline="") as f:
    iccids = [r["iccid"] for r in csv.DictReader(f)]
with ThreadPoolExecutor(32) as pool, open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["iccid", "outcome"])
    for iccid, outcome in pool.map(one, iccids):
        w.writerow([iccid, outcome])
