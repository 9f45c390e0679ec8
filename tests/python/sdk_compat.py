"""Huawei's official Python SDK (huaweicloudsdkgsl, AK/SK credentials) against the simulator.

Run by run.sh, which starts `gslbatch simulate` and exports GSL_SIM_URL, GSL_SIM_AK, GSL_SIM_SK.
Every call below must parse into the SDK's own response models; a wrong SK must come back as a
401 ClientRequestException with APIG.0301.
"""

import datetime
import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkgsl.v3 import (
    CreateSendSmsReq,
    DeleteRealNameRequest,
    GslClient,
    ListSimCardsRequest,
    ListSimPoolMembersRequest,
    ListSmsDetailsRequest,
    ListWorkOrderDetailsRequest,
    ListWorkOrdersRequest,
    SendSmsRequest,
    ShowRealNamedRequest,
)

ENDPOINT = os.environ["GSL_SIM_URL"]
AK = os.environ["GSL_SIM_AK"]
SK = os.environ["GSL_SIM_SK"]
PROJECT_ID = "0123456789abcdef0123456789abcdef"


def client(sk):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    return (
        GslClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(AK, sk, PROJECT_ID))
        .with_endpoints([ENDPOINT])
        .build()
    )


def main():
    gsl = client(SK)

    cards = gsl.list_sim_cards(ListSimCardsRequest(limit=100, offset=1))
    assert cards.count == 200, cards.count
    assert len(cards.sim_cards) == 100
    first = cards.sim_cards[0]
    assert first.iccid and first.sim_card_id and isinstance(first.real_named, bool)
    print(f"list_sim_cards: count={cards.count}, first={first.iccid}")

    unnamed = gsl.list_sim_cards(ListSimCardsRequest(limit=500, offset=1, real_named=False))
    assert all(c.real_named is False for c in unnamed.sim_cards), "real_named filter ignored"
    print(f"list_sim_cards(real_named=False): count={unnamed.count}")

    # China Telecom (898603/898611) cards can be cleared; pick one with an SMS plan for SMS too.
    telecom = [c for c in cards.sim_cards if c.iccid[:6] in ("898603", "898611")]
    assert telecom, "no China Telecom card in the first page"
    card = telecom[0]

    by_id = gsl.show_real_named(ShowRealNamedRequest(sim_card_id=card.sim_card_id))
    assert by_id.iccid == card.iccid and isinstance(by_id.real_named, bool)
    by_iccid = gsl.show_real_named(ShowRealNamedRequest(sim_card_id=0, iccid=card.iccid))
    assert by_iccid.iccid == card.iccid
    print(f"show_real_named: {by_iccid.iccid} real_named={by_iccid.real_named}")

    cleared = gsl.delete_real_name(DeleteRealNameRequest(sim_card_id=0, iccid=card.iccid))
    assert cleared.work_order_id >= 1000001, cleared.work_order_id
    print(f"delete_real_name: work_order_id={cleared.work_order_id}")

    details = gsl.list_work_order_details(
        ListWorkOrderDetailsRequest(work_order_id=cleared.work_order_id, limit=10, offset=1)
    )
    assert details.count == 1 and details.work_order_details[0].cid == card.iccid
    print(f"list_work_order_details: status={details.work_order_details[0].status}")
    orders = gsl.list_work_orders(ListWorkOrdersRequest(limit=10, offset=1, work_order_type=14))
    assert orders.count >= 1 and orders.work_orders[0].work_order_type == 14
    print(f"list_work_orders: count={orders.count}")

    # SMS to every card of the first card's order that can receive one: the order_id form.
    sent = gsl.send_sms(
        SendSmsRequest(body=CreateSendSmsReq(sms_content="gslbatch sdk check", order_id=card.order_id))
    )
    # The API answers a bare JSON `true`; the SDK models the body as a string, so `sent.body`
    # stays None. What matters is the 200.
    assert sent.status_code == 200, sent.status_code
    print(f"send_sms: status={sent.status_code} body={sent.body!r}")
    sms = gsl.list_sms_details(ListSmsDetailsRequest(limit=10, offset=1))
    assert sms.count >= 1, sms.count
    assert isinstance(sms.sms_details[0].sent_time, (datetime.datetime, str))
    print(f"list_sms_details: count={sms.count}")

    pool_card = next(c for c in cards.sim_cards if c.sim_pool_id)
    cycle = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    members = gsl.list_sim_pool_members(
        ListSimPoolMembersRequest(sim_pool_id=pool_card.sim_pool_id, billing_cycle=cycle, limit=10, offset=1)
    )
    assert members.count >= 1 and members.pool_members[0].cid
    print(f"list_sim_pool_members: pool={pool_card.sim_pool_id} count={members.count}")
    try:
        gsl.list_sim_pool_members(
            ListSimPoolMembersRequest(sim_pool_id=pool_card.sim_pool_id, billing_cycle="2999-01")
        )
        raise AssertionError("a future billing cycle was served")
    except ClientRequestException as e:
        assert e.status_code == 403 and e.error_code == "GSL.00011004", (e.status_code, e.error_code)

    try:
        client("not-the-secret").list_sim_cards(ListSimCardsRequest(limit=10, offset=1))
        raise AssertionError("a wrong SK was accepted")
    except ClientRequestException as e:
        assert e.status_code == 401, e.status_code
        assert e.error_code == "APIG.0301", e.error_code
        print(f"wrong SK: {e.status_code} {e.error_code}")

    print("sdk_compat: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
