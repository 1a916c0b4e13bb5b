/// Small statement files built like the channels' own formats, with made-up data: the channel
/// sandbox's CSV, a WeChat Pay trade bill of type ALL and an Alipay business detail export (as
/// text: the real file is GBK, `GBK.encode` makes it). The readers' tests and the CLI's use them.
public enum SampleStatements {
    public static let sandbox = """
        date,channel_reference,payment_id,amount,currency,fee,type
        2026-11-24,sbx-card-00000000000000a1,pay-1001,19999,CNY,120,payment
        2026-11-24,sbx-card-00000000000000b2,"pay,odd",500,USD,3,payment
        2026-11-24,sbx-card-00000000000000c3,pay-1001,5000,CNY,0,refund

        """

    /// A WeChat Pay trade bill of type ALL: every value prefixed with a backtick, yuan, a summary.
    public static let wechat = """
        交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
        `2026-11-24 10:00:01,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000001202611240001,`pay-ord-1002-try-1,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`CMB_CREDIT,`CNY,`50.00,`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`,`0.27500,`0.55%,`50.00,`0.00,`
        `2026-11-24 10:05:00,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000001202611240002,`pay-1001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`199.99,`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`,`1.10000,`0.55%,`199.99,`0.00,`
        `2026-11-24 11:00:00,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000001202611240002,`pay-1001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000000012026112400001,`ord-1001-refund-1,`50.00,`0.00,`ORIGINAL,`SUCCESS,`商品,`,`-0.27500,`0.55%,`0.00,`50.00,`
        总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
        `3,`249.99,`50.00,`0.00,`1.10000,`249.99,`50.00

        """

    /// An Alipay business detail export: the table between # lines, identifiers with a trailing tab.
    public static let alipay = """
        #支付宝业务明细查询
        #账号：[20880000000000000156]
        #起始日期：[2026年11月24日 00:00:00]   终止日期：[2026年11月25日 00:00:00]
        #-----------------------------------------业务明细列表----------------------------------------
        支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
        2026112422001400000000000001\t,pay-ord-1002-try-1\t,交易\t,商品\t,2026-11-24 10:01:00,2026-11-24 10:01:02,\t,\t,\t,\t,buyer@example.com\t,50.00,50.00,0.00,0.00,0.00,0.00,0.00,\t,0.00,0.00,\t,-0.28,0.00,\t
        2026112422001400000000000001\t,pay-ord-1002-try-1\t,退款\t,商品\t,2026-11-24 12:00:00,2026-11-24 12:00:01,\t,\t,\t,\t,buyer@example.com\t,-20.00,-20.00,0.00,0.00,0.00,0.00,0.00,\t,0.00,0.00,ref-77\t,0.11,0.00,\t
        #-----------------------------------------业务明细列表结束------------------------------------
        #交易合计：1笔，退款合计：1笔
        #导出时间：[2026年11月25日 10:00:00]

        """
}
