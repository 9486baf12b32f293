"""Block, miner tx and tree hash codecs: Monero golden vectors, round trips and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zion_core.chain.block import (
    MAX_BLOCK_BYTES,
    MAX_EXTRA_NONCE,
    MAX_TX_HASHES,
    NONCE_OFFSET,
    Block,
    BlockHeader,
    InvalidExtraError,
    InvalidMinerTxError,
    MinerTx,
    NonceOffsetError,
    parse_extra,
    patch_nonce,
    tree_hash,
)
from zion_core.chain.codec import Reader, encode_varint
from zion_core.chain.hashing import keccak256
from zion_core.chain.transaction import InvalidFieldError, UnsupportedVersionError
from zion_core.errors import (
    NonCanonicalError,
    OutOfDataError,
    SerializationError,
    TooLongError,
    TrailingDataError,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- golden vectors

# Monero mainnet genesis: GENESIS_TX and GENESIS_NONCE from src/cryptonote_config.h; the
# genesis block id is the well-known mainnet block 0 hash.
GENESIS_TX = bytes.fromhex(
    "013c01ff0001ffffffffffff03029b2e4c0281c0b02e7c53291a94d1d0cbff8883f8024f5142ee494ffbbd"
    "08807121017767aafcde9be00dcfd098715ebcf7f410daebc582fda69d24a28e9d0bc890d1"
)
GENESIS_ID = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"

# A Monero mainnet get_block_template response (height 1561970, major/minor 7, reserve_size
# 60, txout_to_key output, 15 transaction hashes), as recorded in the test fixtures of a Go
# Monero RPC client: blocktemplate_blob, blockhashing_blob, reserved_offset 129,
# expected_reward 4771949057248, prev_hash f8dc5879...f84a.
V7_TEMPLATE = bytes.fromhex(
    "070786a498d705f8dc58791266179087907a2ff4cd883615216749b97d2f12173171c725a6f84a0000000002"
    "aeab5f01fff2aa5f01e0a9d0f2f08a01028fdb3d5b5a2c363d36ea17a4add99a23a3ec7935b4c3e1e0364fcc"
    "4295c7a2ef5f01f912b15f5d17c1539d4722f79d8856d8654c5af87f54cfb3a4ff7f6b512b2a08023c000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000f1755090c809421d69873c161e7969b8bf33cee3b451dd4859bfc244a70"
    "5f0b4900498f804b6023e13fa023a0fb759e8b7c9a39506a21442bc47077beeedc6b78d34c4ebdae91bd9609"
    "7ccc9a882bc5056568b0d2f1f06559368fea4acba8e745444e883e53156d5083c1fd260edf05292934c8b40c"
    "098b81fe4e261720bdd272b209e317247a1d2c55dc4718891af0d16273c5a610f36f382a3bf50f54808aaa6a"
    "508e51d4601dd0d8fbf8b3b1685066ce121666a1409e8ac7a4d673c1cc36d10b825f764af647441f53230518"
    "e4d2efbcf8791c6060912c76e90db4982a66d51bbd96290bbb34db8080b216c2940cec407260bf5e2c3a5ee2"
    "80835f15298f0801e9d98c4d414792282fbc2c28c3e20bc0fcb1829b5c3ad8f8d20847be8fdb2a949fd96f02"
    "05fbd6d271c880c5d8c83e9813606cd803a44d377fdeae45bfa67112132af601e9b3b0613ba7dff2ec3d4b93"
    "5c447b47bfe39f7b950981b2f4c66c0d853e2218f1f69229a9b608c3d98be09b6d4d640a9f6ff0e920dbacf7"
    "e58b59554c0b398b1ae4b1d497104b4e4e745d850eed7eddb8aa93437427bf442ae5beb22cbf10a8fa738ea3"
    "8cfa5d86dfd30675d4be11a38016e36936fd5601e52643e8b8bc433702ea7ae6149309c95b898cc854850e73"
    "fe0b95c5b8879b7325ecd4"
)
V7_HASHING_BLOB = bytes.fromhex(
    "070786a498d705f8dc58791266179087907a2ff4cd883615216749b97d2f12173171c725a6f84a00000000fc"
    "751ea4a94c2f840751eaa36138eee66dda15ef554e7d6594395827994e31da10"
)

# Monero mainnet get_block_template response (height 3195018, major/minor 16, reserve_size
# 60, txout_to_tagged_key output), from the Monero RPC example data in Cuprate's test-utils:
# reserved_offset 131, expected_reward 600000000000.
V16_TEMPLATE = bytes.fromhex(
    "1010f4bae0b4069d648e741d85ca0e7acb4501f051b27e9b107d3cd7a3f03aa7f776089117c81a0000000002"
    "c681c30101ff8a81c3010180e0a596bb11033b7eedf47baf878f3490cb20b696079c34bd017fe59b0d070e74"
    "d73ffabc4bb0e05f011decb630f3148d0163b3bd39690dde4078e4cfb69fecf020d6278a27bad10c58023c00"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000"
)
V16_HASHING_BLOB = bytes.fromhex(
    "1010f4bae0b4069d648e741d85ca0e7acb4501f051b27e9b107d3cd7a3f03aa7f776089117c81a00000000e0"
    "c20372be23d356347091025c5b5e8f2abf83ab618378565cce2b703491523401"
)

# Monero mainnet blocks 2751506 (no other transactions) and 2751210 (two), get_block
# responses from the same data: blob, block hash and miner_tx_hash.
MAINNET_BLOCKS = [
    (
        "1010c58bab9b06b27bdecfc6cd0a46172d136c08831cf67660377ba992332363228b1b722781e7807e07f5"
        "02cef8a70101ff92f8a7010180e0a596bb1103d7cbf826b665d7a532c316982dc8dbc24f285cbc18bbcc27"
        "c7164cd9b3277a85d034019f629d8b36bd16a2bfce3ea80c31dc4d8762c67165aec21845494e32b7582fe0"
        "0211000000297a787a000000000000000000000000",
        2751506,
        "43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428",
        "e49b854c5f339d7410a77f2a137281d8042a0ffc7ef9ab24cd670b67139b24cd",
    ),
    (
        "1010d8faa89b06f8a36d0dbe4d27d2f52160000563896048d71067c31e99a3869bf9b7142227bb5328010b"
        "02a6f6a70101ffeaf5a70101a08bc8b3bb11036d6713f5aa552a1aaf33baed7591f795b86daf339e51029a"
        "9062dfe09f0f909b312b0124d6023d591c4d434000e5e31c6db718a1e96e865939930e90a7042a1cd4cbd2"
        "02083786a78452fdfc000002a89e380a44d8dfc64b551baa171447a0f9c9262255be6e8f8ef10896e36e2b"
        "f90c4d343e416e394ad9cc10b7d2df7b2f39370a554730f75dfcb04944bd62c299",
        2751210,
        "86d421322b700166dde2d7eba1cc8600925ef640abf6c0a2cc8ce0d6dd90abfd",
        "dabe07900d3123ed895612f4a151adb3e39681b145f0f85bfee23ea1fe47acf2",
    ),
]

# The input of the RandomX reference test vector: a Monero hashing blob (major/minor 11).
RANDOMX_HASHING_BLOB = bytes.fromhex(
    "0b0b98bea7e805e0010a2126d287a2a0cc833d312cb786385a7c2f9de69d25537f584a9bc9977b00000000"
    "666fd8753bf61a8631f12984e3fd44f4014eca629276817b56f32e9b68bd82f416"
)

# Monero's tests/hash/tests-tree.txt: "root hashes..." for 1 to 17 hashes.
TREE_VECTORS = """\
676567f8b1b470207c20d8efbaacfa64b2753301b46139562111636f36304bb8 676567f8b1b470207c20d8efbaacfa64b2753301b46139562111636f36304bb8
5077570fed2363a14fa978218185b914059e23517faf366f08a87cf3c47fd58e 3124758667bc8e76e25403eee75a1044175d58fcd3b984e0745d0ab18f473984975ce54240407d80eedba2b395bcad5be99b5c920abc2423865e3066edd4847a
f8e26aaa7c36523cea4c5202f2df159c62bf70d10670c96aed516dbfd5cb5227 decc1e0aa505d7d5fbe8ed823d7f5da55307c4cc7008e306da82dbce492a0576dbcf0c26646d36b36a92408941f5f2539f7715bcb1e2b1309cedb86ae4211554f56f5e6b2fce16536e44c851d473d1f994793873996ba448dd59b3b4b922b183
45f6e06fc0263e667caddd8fba84c9fb723a961a01a5b115f7cab7fe8f2c7e44 53edbbf98d3fa50a85fd2d46c42502aafad3fea30bc25ba4f16ec8bf4a475c4d87da8ad3e5c90aae0b10a559a77a0985608eaa3cc3dd338239be52572c3bdf4ba403d27466991997b3cf4e8d238d002a1451ccc9c4790269d0f0085d9382d60fef37717f59726e4cc8787d5d2d75238ba9adb9627a8f4aeeec8d80465ed3f5fb
e678fb87749ec082a9f92537716de8e19d8bd5bc4c4d832bd3fcfd42498dac83 051a082e670c688e6a0fc2c8fd5b66b7a23cd380c7c49bd0cfffb0e80fb8c2334bb717c5e90db0ac353dfc0750c8b43a07edae0be99d6e820acc6da9f113123ae084c38ccdbf9c6730e228b5d98e7beb9843cfb523747cc32f09f2b16def67f76765cee044883827b9af31c179d3135b16c30f04453943d9676a59b907a6439658f6c98159b8fa1b152f1bcf748740754ca31c918501dbd577faf602c641df59
7db3258ea536fef652eaaa9ccb158045770900b3c301d727bcb7e60f9831ae2c 4231b54cddc617d06e0e311536fa400e5be0a35aab5fec9ec8d98f6c6dad3916fe6cdb1f63be231f95cdc83bb15b0d99d32d9922331b738c423625471fad7f408e60c0773fe78938b054e28b86ac06a194d141c1bde5f3c6f2b11468b43702cb3121b40ccbcb5461fa9321c35c9342e21efd7c1c22f523d78b9d4de28112b6cc51552642ffc126c66f25038f9d3b0cf485cc252215c144d51a139c8ea9a0ecc16e81d8d92dd3660d885deca60070d3d00069d89db1a85acb9c1f18d0c90736a7
ad56b3e027d78a372adebe839e154668aec5236f7d40296cfdb562fca1dc73c2 68e09573a758b75ea8e7d925fe81e3155afecddc4c8aeb3fe70d87411ee53aceac63c0233d172cd49b2708350fd64e2cf4dccb13352e3a159c06647c609429349197163eca2c2dae0c8643fdfe5d346b2ffd45a2d46f38599efbfa587c3ac0c3119e19508e009556fe53e4f78ef30eed649cdc1e090c8cb662eae1863fdc683bbabea966764f550a142dd68e5b8eb1930ff0c7333c9f2555712489a8cf6a5d188a70841510fca540b8c0425123efca47d5a698cf392e3bdbb7226053459fae01fd19ddb9d16d5f5499525feb49ffca9411e7ac48de15256559f3f65f899b80af
090a95612ed9df6eeb854ae320355889a302498b4f5164a79d8e384a3a0d9748 42e7f4058ca80d513c140837dd661acde3fb914779079baccfe188cbce275aed4b515094bb49ab9a825bcc2ac13f84b14a9defeb1b62fc68124b088272a3562696d62ccdfb5d896b2d2b410a2a79f9b1e7849feebc17617ba12a08d4e80affe970ff2fb79917ac13708f79be215bb6484d298b2fe22b4818536e74894db5e0350e1505ca2681da7b7d7171e3d10c89348cab160ff5b2e739d3591443d2af60db5eb36c50a2dfdb79b8ab83b0792161ac4756d9b831f1863188e10c81af5077d0fdb123f66e51670f03a203ff2287dea6827dcd5afd4904736ec4fe9f3b52f7e2bed7beaa1543bd8bfbfff6a8ae8bf1791dc34efa92c6342532fa33a3b72b6c9f
997ac1178ab7414bab823fbca45b5630df8d1d8263063e6c57da463b85d68a74 947fbbc55ad237fc5dbd7d52dddd44bf3f2a09005c78873422f7ef282d8e6fcc554e35c9566febf91cbbcb1d57a7ebd119abb0ad33a006d01623b7b379e966e00be000ae2fe8a45940e99c953d22014bae4932d8493ad4a551a97d437db2939dd53abedc11a63417f76257a5587f382a57d46d63c372182600c7920bcaf74e9e65289e8c45123ac8a54a45a6104dce5b8c065065ff3a3b6f8bf4d86bf96cb56116df4e01eb3153223d5f3a8c0d7de9eb348158e5ca0c363568674215f68b6ff8e54aeb4a2661f1144cb4f1bde7f9e6371d8a5568d4b3ff3382c65e143ae5d3a5834c890559be95b8b80b82c83d70df85c934bf9dd4b0f2b5f60b8553bd1c1e537b7a1f78a89a17a335a06f5d7143dfecff0c10a2e0a524c91ce913ae04501b65
d7647e967e4f1ad3d5a0b2d231f62c4fe8fea85b845a72aaf57aeea96f2388f2 5b0bf1b5c843cc5ea8e907c0d6ea901f1d4259cd61e68895fa1a9df76973ac6c87ee22343802565be146e4fcd768cde3cdd1b1996b8626e53b62648a9fd7f5aee2ce5b4aacb090d1beeaf42d47e7f0e90174af6554e8bd4aea3df45e90537eb7572b9583b3fcedf56ff69c412c4576a1353458292b7a6b10536887da47fb95c999ff1a074dfb52db43cf423e81e02aacb267b5f3b48761de9c3a73efe199d710e09043e4701792d04112d18e33d5f78efe4fbda461b4e0f2f55f07ca04eed04762d956b396ff0471c28f48462bf9b6b47caac50be8dd822198a39366071b18f4d4e8188bd11421b606108e9bbcfb1377e122c36083beca6a2306e48bfdbc64c9e6435ed838eba78e0af101abf79ff9600f6cc1b2b776783491161ae2d1d8df2d436a20c053c9237a7d224016878906352eba550d778e91ba830906b8d0be4e6e
bc4b8c89368a254ccd0fb8ad2e9bcf95e06e1189b9a87774a3f70c51809967ef 0bea27a480254ca07321850f25294478628ce83a025af4624902644f9dec23e8fb2c2313332449ae662e59b0bf99c30263a573f152cdcfd731402fe4bc10a758fbc005a236a1fb4c06f25c0564726bace64ae59c9051fc4e6171b5fb1466623f5c6a33ed05f196a6eb43852aa0735f1004245a58f68d3f8848ee916dcdfea2d7c63159daff81f0a9d10261d416ba290752f8333afbb7e22ca1b9c7f55b9023386b759fa69caa43c5caa7c339a0ddcfd95d9c12bea4c2cb450838080b54e270c4aa6580cdbb3431acb13dad236d1999d8b1ec1ed78f3e14061a890c6720947d18ee2dfa62ae4ad5e5ad6d8234ce99a1b2a21ba096325d8acf951380eacac551423d108b090ede16d479483ca0f9acc6cf1db8b8e4597b1c64738675f13665f84043ace791a58acf22d31e6298e7687c24276252f10396c203d38a79b232b200d1c53abb01b9678296797b9e08e4bf0251d8acfe3f42127db1295e3c90241a594d
d765c015e0d30f911278d3b011faba39e8707962d90dabafb37081805dfbe121 dbbd17543ddcc85cd6e3d96d08ae74f1eb5bb69b5d04ed538622423e0f78add6152cf461b569d733167cf18c94c5c09061aced2c59cbd75529c3e5d857528d6be15dab61315fa2e18ad41fc7e7c99cd274e1f7e4e6005e48015118153fd78b190a4960c135213f187da7675369611ad66b546cb5b041ab1743deae82edad9c4e62dabbff022a54c1f1cbd65614fad0d33f894ace380426618330339f238e703e40df8ef6a73ec8de5e35a2c41904552be0d029cfafe3629662dafd39069d25a1982e021ca076aff80f75ccc92ce29219ea273874a29a9c5357dc630a244a0025a7bccd0b6489f38b9603027a032b048cdaa5c88bafb1e72f4a69e0040c0c7b4532b1a91e7b92ed2cd5533b8a4f119ab15c76943204ecbe61b15dd2610c49ed38b771e6ba16c7beb09c70c0550afac81f3580d12491c4470c4773424796a857539616f29cd2df4e187363d24c22bb6cc91530705d7057b9a4380767d9fd8be0963ba503132cac79c870fa4c42fc32ee39a7a3c2ded84cd4b6e302d132f3d8e2ea
3828d41d973d48f171a901cd67f99d073cfbc4dc954fe9c58a48f31a2b0c8927 ac68da2f276c44fcddf6018bfad995e66a50ef120dbcd734834f2473542179f0754c132933fffa46b3c61b01231b5a30cdca82b16afdb5f5183a4f733345dade7ddb2a26b4adf0c23520a8e2d7bf979a7aeca3022153da6a65091172c34ec3a2b8bd5bc6e2dd971cf9b6582b0cdc24f84c48ee23a47c078ecfe306a3791eabe93fc38d28e6a82bb3f80448b7fa3b3f687e59447e6b41074217cf336e4ba50b580f8724b18f95908a13517f5215b67b1b9d0f7129c4e91efa23df763142be2e28f4d394cd6493ea6185aefa0ce8d73b5c0c11f5e8ada75a7c29438ce162749deb113cba0d436005742d35e7397d4fec8419b24320a21dcb18089e5c7644abe3d57b2554c19c0eb55ebfe943ac13beafcd9bad66a967fcc1e747c778bf452c6ccfc9b96772caf052bd768d50977cda7255f479510af8628d5e24125b9482b0e786a65e99bdfb73e6c6e57f01458a7735d0e16b30546d1856683002aa1d0980b54afc8086b75eff6b7a0b448e31e2bf741b24e7399dded0321f745ef034d4c80fc15719b81a797b751c27110480e48c7e98e27aa9397b7c58917147200fd4770d55
834e5f13dd06f541753f60fe2b5854eff15e54c4141cc0836c4688769a0db0a4 ec58450fe3887a480b39cc493599bf4107d276f57453257bbd1446ccec960ce8aad0e7623c1ac4fe07c2255376dd1aaf4b78a079e8f701a74560805d295d466a6987e81e2ed74b4ccc6a0f121eb6f173f4efeb74f801e1b80e1ee97bf4216376c00a92962c5234d276bea8975e49718c546c3027d57131333a4e4c5756899ba7c9643ff8335553325d4706cd72930b09d632c561072b39b49106c2d424fa6773bbb0bb01fed84effb8ed7471b14581213e49b8fd8dacd1c3f9c50f2a915bfcd77d07abb95cd0aa13df084adc54a04e3214c639cef5cc22fd0a1477a1a196a919d37dff128318900dce936b5cf3a3154fb05f9b2841481554805b681c2943eeade2b21fcc72c6380dc70d4f404dcfe0c0686f94f979989e663f4028189ae5839f0ff8d2c58b4ea09797ece5f5554fccb824c24293b7b7bf8af4da3536548ee5ebbf80c8ea56f88bfa8174df124f5acdecb9e919041ec664e384a8eaeb8e20be270350a2f1cb65f691c0cb1392226a928a3a3aac3f69fe5eab76d125fdeb5ea4c4b2dd59993e7df68221c0da90a1ee89885b217bb6b67ab2d64feb33b66b31087795ddeeb52d40c9a260da14b383caad730ddc8f1e6b59baf7bf110a452a05e8bb
bca11932a196feb98e7779662b8c0f3754a6438311209a858bb891de6bf09581 23c2a65a1917cb82949e89ca65585f4d0b09a5d90a912aed4d8aff9af2a2ce6594305a47ad8e6b744a5fd79cb27e5f4a3b28a3893c655efe3f61105c85183c822d293c74b60d4cc0c7ee002616a97411a3b1d3d8c1be1079a1b300e8e17c95568defd202af2d290cbf1e678e881430d05419c2c543b8e476b424232bc7396e14928e459597e6a8cf9cc6c95051b16d0bcc0e4034ffbcd4ee321b9e94bbc0a1729ee8ab4cd43158c4e8e571ee64c2102f181402238cd53a57693dbfdd5e6be3bf23103e73c40248ce7afb8dad6dd2c2107aab20569f740197d64efbe6159a553c013c04c5c54aa9a4dbe41f2910554bba612e16fe3c682d493c7a1b35c0b3476337badb053bae123c6306442812f5f2df8995c29d7e9c218d4d9e86699cca19d06be9688bf8150d487ede28911089ea86d0be0986b51adc270317c438b622748321d2d9c9f93400b73d7fdbe3e1f6ff36f16be9416b568a80e2764a258b6789d570d80bf91e832baa1ab92289759eb2504ab4b0d3b826e944f5f4beb5d6a3764dd9225a0a1e78a7d0485ffc6808651ef1a26bda9c7e436ab48587e91cfdab4a7c1dbb13a78025ac77baa1e389f9b82994c6cb725c30708a266b5e1a9d0b52128ba340a4a609095e70cc7b30cf6d3a2156b4a35c1bba574f240c37f94718616e48
2d0ad2566627b50cd45125e89e963433b212b368cd2d91662c44813ba9ec90c2 21f750d5d938dd4ed1fa4daa4d260beb5b73509de9a9b145624d3f1afb671461b07d768cf1f5f8266b89ecdc150a2ad55ccd76d4c12d3a380b21862809a85af623269a23ee1b4694b26aa317b5cd4f259925f6b3288a8f60fb871b1ad3ac00cb1e6c55eddfc438e1f3e7b638ea6026cc01495010bafdfd789c47dff282c1af4c6a8f83e5f2fca6940a756ef4faa15c7137082a7c31dffe0b2f5112d126ad4af1d536c0e626cc9d2fe1b72256f5285728558f22a3dbb36e0918bcfc01d4ae7284d0bfb8e90647cdb01c292a53a31ff3fe6f350882f1dae2b09374db45f4d54c67d3b4e0829c4f9f63ad235d8ef838d8fb39546d90d99bbd831aff55dbbb642e2bf529ceccd0479b9f194475c2a15143f0edac762e9bbce810436e765550c69e234c22276c41d7d7e28c10afc5e144a9ce32aa9c0f28bb4fcf171af7d7404fa5e28b79dc97bd4147f4df6d38b935bd83fb634414bae9d64a32ab45384fba5b8da5c147d51cd2a8f7f2a9c07b1bddc5b28b74bf0c0f0632ac2fc43d0d306dd1ac1481cabe60a358d6043d4733202d489664a929d6bf76a39828954846beb47a3baacb35d2065cbe3ad34cf78bf895f6323a6d76fc1256306f58e4baecabd7a779388c6bf2734897c193d39c343fce49a456f0ef84cf963593c5401a14621cc6ec1bef01b53735ccb02bc96c5fd454105053e3b016174437ed83b25d2a79a88268f2
"""

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


# --------------------------------------------------------------------------- Monero vectors


def test_monero_genesis_block_id() -> None:
    miner_tx = MinerTx.from_bytes(GENESIS_TX)
    assert miner_tx.version == 1
    assert (miner_tx.unlock_time, miner_tx.height) == (60, 0)
    assert miner_tx.amount == 17592186044415
    assert miner_tx.key.hex().startswith("9b2e4c0281c0b02e")
    assert miner_tx.tx_public_key.hex().startswith("7767aafcde9be00d")
    assert miner_tx.extra_nonce is None
    assert miner_tx.reserved_offset is None
    assert miner_tx.to_bytes() == GENESIS_TX
    assert miner_tx.hash == keccak256(GENESIS_TX)  # version 1: the hash of the whole tx

    block = Block(BlockHeader(1, 0, 0, bytes(32), 10000), miner_tx)
    assert block.id.hex() == GENESIS_ID
    assert Block.from_bytes(block.to_bytes()) == block
    # Timestamp 0 takes one varint byte, so Monero's genesis has its nonce at 35, not 39.
    assert block.header.nonce_offset == 35
    with pytest.raises(NonceOffsetError):
        block.header.check_nonce_offset()


def test_monero_v7_block_template() -> None:
    block = Block.from_bytes(V7_TEMPLATE)
    assert block.to_bytes() == V7_TEMPLATE
    assert block.hashing_blob() == V7_HASHING_BLOB
    assert block.reserved_offset == 129
    header = block.header
    assert (header.major_version, header.minor_version) == (7, 7)
    assert header.prev_id.hex() == (
        "f8dc58791266179087907a2ff4cd883615216749b97d2f12173171c725a6f84a"
    )
    assert header.nonce == 0
    header.check_nonce_offset()
    miner_tx = block.miner_tx
    assert miner_tx.version == 2
    assert miner_tx.height == 1561970
    assert miner_tx.unlock_time == 1561970 + 60
    assert miner_tx.amount == 4771949057248  # the response's expected_reward
    assert miner_tx.view_tag is None
    assert miner_tx.extra_nonce == bytes(60)  # reserve_size 60
    assert miner_tx.merge_mining_tag is None
    assert len(block.tx_hashes) == 15  # the tree hash of 16 hashes is in the hashing blob
    assert V7_TEMPLATE[129 : 129 + 60] == bytes(60)


def test_monero_v16_block_template() -> None:
    block = Block.from_bytes(V16_TEMPLATE)
    assert block.to_bytes() == V16_TEMPLATE
    assert block.hashing_blob() == V16_HASHING_BLOB
    assert block.reserved_offset == 131
    assert block.miner_tx.height == 3195018
    assert block.miner_tx.amount == 600000000000
    assert block.miner_tx.view_tag is not None
    assert block.miner_tx.extra_nonce == bytes(60)
    assert block.tx_hashes == ()


@pytest.mark.parametrize(("blob_hex", "height", "block_id", "miner_tx_hash"), MAINNET_BLOCKS)
def test_monero_mainnet_block_ids(
    blob_hex: str, height: int, block_id: str, miner_tx_hash: str
) -> None:
    blob = bytes.fromhex(blob_hex)
    block = Block.from_bytes(blob)
    assert block.to_bytes() == blob
    assert block.miner_tx.height == height
    assert block.miner_tx.unlock_time == height + 60
    assert block.miner_tx.hash.hex() == miner_tx_hash
    assert block.id.hex() == block_id
    block.header.check_nonce_offset()


def test_monero_mainnet_block_fields() -> None:
    block = Block.from_bytes(bytes.fromhex(MAINNET_BLOCKS[0][0]))
    assert block.header.timestamp == 1667941829
    assert block.header.nonce == 4110909056
    assert block.miner_tx.view_tag == 0xD0
    assert block.miner_tx.tx_public_key.hex().startswith("9f629d8b36bd16a2")
    assert block.miner_tx.extra_nonce == bytes.fromhex("000000297a787a") + bytes(10)
    two_tx = Block.from_bytes(bytes.fromhex(MAINNET_BLOCKS[1][0]))
    assert [h.hex()[:8] for h in two_tx.tx_hashes] == ["a89e380a", "0c4d343e"]


def test_randomx_vector_is_a_hashing_blob() -> None:
    reader = Reader(RANDOMX_HASHING_BLOB)
    header = BlockHeader.read(reader)
    assert (header.major_version, header.minor_version) == (11, 11)
    assert header.nonce_offset == NONCE_OFFSET
    assert header.nonce == 0
    assert reader.remaining == 32 + 1  # tree root, then the varint count 0x16
    assert RANDOMX_HASHING_BLOB[-1] == 0x16
    patched = patch_nonce(RANDOMX_HASHING_BLOB, 0x12345678)
    assert patched[NONCE_OFFSET : NONCE_OFFSET + 4] == bytes.fromhex("78563412")
    assert BlockHeader.read(Reader(patched)) == header.with_nonce(0x12345678)


# --------------------------------------------------------------------------- tree hash


def _reference_tree_hash(hashes: list[bytes]) -> bytes:
    """A second formulation: for n > 2, fold the surplus over the largest power of two
    below n into pairs at the end, then reduce the perfect tree by halves."""

    def perfect(nodes: list[bytes]) -> bytes:
        if len(nodes) == 1:
            return nodes[0]
        half = len(nodes) // 2
        return keccak256(perfect(nodes[:half]) + perfect(nodes[half:]))

    n = len(hashes)
    if n <= 2:
        return hashes[0] if n == 1 else keccak256(hashes[0] + hashes[1])
    width = 1
    while width * 2 < n:
        width *= 2
    surplus = n - width
    head = hashes[: n - 2 * surplus]
    tail = hashes[n - 2 * surplus :]
    paired = [keccak256(tail[i] + tail[i + 1]) for i in range(0, len(tail), 2)]
    return perfect(head + paired)


@pytest.mark.parametrize("line", TREE_VECTORS.splitlines())
def test_tree_hash_published_vectors(line: str) -> None:
    root, concatenated = line.split()
    data = bytes.fromhex(concatenated)
    hashes = [data[i : i + 32] for i in range(0, len(data), 32)]
    assert tree_hash(hashes).hex() == root


def test_tree_hash_small_counts() -> None:
    a, b, c, d, e = (keccak256(bytes([i])) for i in range(5))
    assert tree_hash([a]) == a
    assert tree_hash([a, b]) == keccak256(a + b)
    assert tree_hash([a, b, c]) == keccak256(a + keccak256(b + c))
    assert tree_hash([a, b, c, d]) == keccak256(keccak256(a + b) + keccak256(c + d))
    assert tree_hash([a, b, c, d, e]) == keccak256(
        keccak256(a + b) + keccak256(c + keccak256(d + e))
    )


@FUZZ
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70))
def test_tree_hash_matches_reference(hashes: list[bytes]) -> None:
    assert tree_hash(hashes) == _reference_tree_hash(hashes)


def test_tree_hash_rejects_bad_input() -> None:
    with pytest.raises(InvalidFieldError):
        tree_hash([])
    with pytest.raises(InvalidFieldError):
        tree_hash([bytes(32), bytes(31)])


# --------------------------------------------------------------------------- ZION miner tx


def test_miner_tx_build() -> None:
    tx = MinerTx.build(100, 5_000_000, KEY_A, KEY_B, reserve_size=8)
    assert (tx.version, tx.unlock_time, tx.height, tx.amount) == (2, 160, 100, 5_000_000)
    assert tx.key == KEY_A
    assert tx.tx_public_key == KEY_B
    assert tx.extra == b"\x01" + KEY_B + b"\x02\x08" + bytes(8)
    assert tx.extra_nonce == bytes(8)
    blob = tx.to_bytes()
    expected = (
        b"\x02"  # version
        + encode_varint(160)  # unlock_time
        + b"\x01\xff"  # one txin_gen
        + encode_varint(100)
        + b"\x01"  # one output
        + encode_varint(5_000_000)
        + b"\x02"  # txout_to_key
        + KEY_A
        + encode_varint(len(tx.extra))
        + tx.extra
        + b"\x00"  # RCTTypeNull
    )
    assert blob == expected
    assert tx.reserved_offset == len(blob) - 1 - 8
    assert tx.prefix_bytes() == blob[:-1]
    assert tx.hash == keccak256(keccak256(blob[:-1]) + keccak256(b"\x00") + bytes(32))
    assert MinerTx.from_bytes(blob) == tx


def test_miner_tx_build_without_reserve_and_with_wide_reserve() -> None:
    plain = MinerTx.build(0, 1, KEY_A, KEY_B)
    assert plain.extra == b"\x01" + KEY_B
    assert plain.extra_nonce is None and plain.reserved_offset is None
    wide = MinerTx.build(7, 1, KEY_A, KEY_B, reserve_size=MAX_EXTRA_NONCE, unlock_window=0)
    assert wide.unlock_time == 7
    offset = wide.reserved_offset
    assert offset is not None
    blob = wide.to_bytes()
    assert blob[offset - 3 : offset] == b"\x02" + encode_varint(255)  # two-byte varint
    assert blob[offset : offset + 255] == bytes(255)
    with pytest.raises(InvalidFieldError):
        MinerTx.build(0, 1, KEY_A, KEY_B, reserve_size=256)


def test_with_extra_nonce_fills_the_reserved_space() -> None:
    block = Block(
        BlockHeader(16, 16, 1_700_000_000, bytes(32), 0),
        MinerTx.build(5, 9, KEY_A, KEY_B, reserve_size=4),
    )
    offset = block.reserved_offset
    assert offset is not None
    filled = block.with_extra_nonce(b"\xde\xad\xbe\xef")
    blob = block.to_bytes()
    assert filled.to_bytes() == blob[:offset] + b"\xde\xad\xbe\xef" + blob[offset + 4 :]
    assert filled.id != block.id
    with pytest.raises(InvalidFieldError):
        block.with_extra_nonce(b"\x00")
    with pytest.raises(InvalidFieldError):
        MinerTx.build(0, 1, KEY_A, KEY_B).with_extra_nonce(b"")


def test_extra_tags() -> None:
    mm = b"\x03\x05" + b"mmtag"
    fields = parse_extra(mm + b"\x02\x01\xaa" + b"\x01" + KEY_A)
    assert fields.tx_public_key == KEY_A
    assert fields.extra_nonce == b"\xaa"
    assert fields.extra_nonce_offset == len(mm) + 2
    assert fields.merge_mining_tag == b"mmtag"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (b"", InvalidExtraError),  # no tx public key
        (b"\x02\x00", InvalidExtraError),
        (b"\x00" + b"\x01" + KEY_A, InvalidExtraError),  # padding is not allowed
        (b"\x01" + KEY_A + b"\x04\x00", InvalidExtraError),  # additional pubkeys
        (b"\x01" + KEY_A + b"\xde\x00", InvalidExtraError),  # minergate tag
        (b"\x01" + KEY_A + b"\x01" + KEY_B, InvalidExtraError),  # repeated
        (b"\x01" + KEY_A + b"\x02\x00\x02\x00", InvalidExtraError),
        (b"\x01" + KEY_A[:31], OutOfDataError),
        (b"\x01" + KEY_A + b"\x02\x05\x00", OutOfDataError),
        (b"\x01" + KEY_A + b"\x02\x80\x02" + bytes(256), TooLongError),  # nonce > 255
        (b"\x01" + KEY_A + b"\x02\x80\x00", NonCanonicalError),
        (b"\x01" + KEY_A + b"\x03", OutOfDataError),
    ],
)
def test_bad_extra(extra: bytes, error: type[SerializationError]) -> None:
    with pytest.raises(error):
        parse_extra(extra)
    with pytest.raises(error):
        MinerTx(2, 0, 0, 0, KEY_A, extra)
    good = MinerTx(2, 0, 0, 0, KEY_A, b"\x01" + KEY_B).to_bytes()
    # version, unlock_time, 1, 0xff, height, 1, amount, 0x02: 8 bytes, then the 32-byte key
    tampered = good[:40] + encode_varint(len(extra)) + extra + b"\x00"
    with pytest.raises(error):
        MinerTx.from_bytes(tampered)


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (
            b"\x03\x00\x01\xff\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B,
            UnsupportedVersionError,
        ),
        (
            b"\x00\x00\x01\xff\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B,
            UnsupportedVersionError,
        ),
        (
            b"\x02\x00\x02\xff\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B + b"\x00",
            InvalidMinerTxError,
        ),
        (b"\x02\x00\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B + b"\x00", InvalidMinerTxError),
        (
            b"\x02\x00\x01\x02\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B + b"\x00",
            InvalidMinerTxError,
        ),
        (
            b"\x02\x00\x01\xff\x00\x02\x00\x02" + KEY_A + b"\x21\x01" + KEY_B + b"\x00",
            InvalidMinerTxError,
        ),
        (
            b"\x02\x00\x01\xff\x00\x01\x00\x04" + KEY_A + b"\x21\x01" + KEY_B + b"\x00",
            InvalidMinerTxError,
        ),
        (
            b"\x02\x00\x01\xff\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B + b"\x05",
            InvalidMinerTxError,
        ),
        (b"\x02\x00\x01\xff\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B, OutOfDataError),
        (
            b"\x02\x00\x01\xff\x00\x01\x00\x02" + KEY_A + b"\x21\x01" + KEY_B + b"\x00\x00",
            TrailingDataError,
        ),
        (b"\x02\x00\x01\xff\x00\x01\x00\x02" + KEY_A + b"\xa5\x08" + bytes(1061), TooLongError),
    ],
)
def test_bad_miner_tx(blob: bytes, error: type[SerializationError]) -> None:
    with pytest.raises(error):
        MinerTx.from_bytes(blob)


def test_miner_tx_field_validation() -> None:
    with pytest.raises(UnsupportedVersionError):
        MinerTx(3, 0, 0, 0, KEY_A, b"\x01" + KEY_B)
    with pytest.raises(InvalidFieldError):
        MinerTx(2, 0, 0, 1 << 64, KEY_A, b"\x01" + KEY_B)
    with pytest.raises(InvalidFieldError):
        MinerTx(2, 0, 0, 0, KEY_A[:31], b"\x01" + KEY_B)
    with pytest.raises(InvalidFieldError):
        MinerTx(2, 0, 0, 0, KEY_A, b"\x01" + KEY_B, view_tag=256)
    with pytest.raises(TooLongError):
        MinerTx(2, 0, 0, 0, KEY_A, b"\x01" + KEY_B + b"\x03" + encode_varint(1030) + bytes(1030))
    with pytest.raises(TypeError):
        MinerTx(2, 0, 0, 0, KEY_A, bytearray(b"\x01" + KEY_B))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- header, nonce


@pytest.mark.parametrize(
    ("major", "minor", "timestamp", "offset"),
    [
        (16, 16, 1 << 28, 39),
        (16, 16, (1 << 35) - 1, 39),
        (16, 16, 1_700_000_000, 39),
        (16, 16, (1 << 28) - 1, 38),
        (16, 16, 1 << 35, 40),
        (128, 16, 1_700_000_000, 40),
        (16, 200, 1_700_000_000, 40),
        (1, 0, 0, 35),
    ],
)
def test_nonce_offset(major: int, minor: int, timestamp: int, offset: int) -> None:
    header = BlockHeader(major, minor, timestamp, bytes(32), 0xA1B2C3D4)
    assert header.nonce_offset == offset
    blob = header.to_bytes()
    assert blob[offset:] == bytes.fromhex("d4c3b2a1")
    if offset == NONCE_OFFSET:
        header.check_nonce_offset()
        assert patch_nonce(blob, 7) == header.with_nonce(7).to_bytes()
    else:
        with pytest.raises(NonceOffsetError):
            header.check_nonce_offset()
        with pytest.raises(NonceOffsetError):
            patch_nonce(blob, 7)


def test_header_validation() -> None:
    with pytest.raises(InvalidFieldError):
        BlockHeader(256, 0, 0, bytes(32), 0)
    with pytest.raises(InvalidFieldError):
        BlockHeader(1, 0, 0, bytes(32), 1 << 32)
    with pytest.raises(InvalidFieldError):
        BlockHeader(1, 0, -1, bytes(32), 0)
    with pytest.raises(InvalidFieldError):
        BlockHeader(1, 0, 0, bytes(31), 0)
    with pytest.raises(TypeError):
        BlockHeader(True, 0, 0, bytes(32), 0)
    with pytest.raises(TooLongError):
        BlockHeader.from_bytes(b"\x80\x02\x00\x00" + bytes(36))  # major 256
    with pytest.raises(InvalidFieldError):
        patch_nonce(BlockHeader(16, 16, 1_700_000_000, bytes(32), 0).to_bytes(), -1)


def test_block_with_nonce_and_hashing_blob() -> None:
    block = Block(
        BlockHeader(16, 16, 1_700_000_000, bytes(range(32)), 0),
        MinerTx.build(10, 600, KEY_A, KEY_B, reserve_size=16),
        (keccak256(b"tx1"), keccak256(b"tx2")),
    )
    mined = block.with_nonce(0xDEADBEEF)
    assert mined.header.nonce == 0xDEADBEEF
    assert mined.to_bytes() == patch_nonce(block.to_bytes(), 0xDEADBEEF)
    assert mined.hashing_blob() == patch_nonce(block.hashing_blob(), 0xDEADBEEF)
    blob = block.hashing_blob()
    assert blob == (
        block.header.to_bytes()
        + tree_hash([block.miner_tx.hash, keccak256(b"tx1"), keccak256(b"tx2")])
        + b"\x03"
    )
    assert block.id == keccak256(encode_varint(len(blob)) + blob)
    assert mined.id != block.id
    assert Block.from_bytes(block.to_bytes()) == block


def test_block_limits() -> None:
    base = Block(
        BlockHeader(16, 16, 1_700_000_000, bytes(32), 0), MinerTx.build(1, 1, KEY_A, KEY_B)
    )
    prefix = base.to_bytes()[:-1]  # without the zero hash count
    with pytest.raises(TooLongError):
        Block.from_bytes(prefix + encode_varint(MAX_TX_HASHES + 1))
    with pytest.raises(OutOfDataError):
        Block.from_bytes(prefix + encode_varint(MAX_TX_HASHES) + bytes(32))
    with pytest.raises(OutOfDataError):
        Block.from_bytes(prefix + encode_varint((1 << 64) - 1 >> 50))
    with pytest.raises(TooLongError):
        Block.from_bytes(prefix + b"\x00" + bytes(MAX_BLOCK_BYTES))
    with pytest.raises(TrailingDataError):
        Block.from_bytes(base.to_bytes() + b"\x00")
    with pytest.raises(InvalidFieldError):
        Block(base.header, base.miner_tx, (bytes(31),))
    with pytest.raises(InvalidFieldError):
        Block(base.header, base.miner_tx, (bytes(32),) * (MAX_TX_HASHES + 1))
    with pytest.raises(TypeError):
        Block(base.header, base.miner_tx, [bytes(32)])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

hashes32 = st.binary(min_size=32, max_size=32)
u64 = st.integers(0, (1 << 64) - 1)

headers = st.builds(
    BlockHeader,
    st.integers(0, 255),
    st.integers(0, 255),
    u64,
    hashes32,
    st.integers(0, (1 << 32) - 1),
)


@st.composite
def extras(draw: st.DrawFn) -> bytes:
    parts = [b"\x01" + draw(hashes32)]
    if draw(st.booleans()):
        nonce = draw(st.binary(max_size=MAX_EXTRA_NONCE))
        parts.append(b"\x02" + encode_varint(len(nonce)) + nonce)
    if draw(st.booleans()):
        tag = draw(st.binary(max_size=80))
        parts.append(b"\x03" + encode_varint(len(tag)) + tag)
    return b"".join(draw(st.permutations(parts)))


miner_txs = st.builds(
    MinerTx,
    st.sampled_from([1, 2]),
    u64,
    u64,
    u64,
    hashes32,
    extras(),
    st.none() | st.integers(0, 255),
)
blocks = st.builds(Block, headers, miner_txs, st.lists(hashes32, max_size=20).map(tuple))


@FUZZ
@given(headers)
def test_header_round_trip(header: BlockHeader) -> None:
    assert BlockHeader.from_bytes(header.to_bytes()) == header


@FUZZ
@given(miner_txs)
def test_miner_tx_round_trip(tx: MinerTx) -> None:
    blob = tx.to_bytes()
    assert MinerTx.from_bytes(blob) == tx
    offset = tx.reserved_offset
    nonce = tx.extra_nonce
    if offset is not None and nonce is not None:
        assert blob[offset : offset + len(nonce)] == nonce


@FUZZ
@given(blocks)
def test_block_round_trip(block: Block) -> None:
    blob = block.to_bytes()
    parsed = Block.from_bytes(blob)
    assert parsed == block
    assert parsed.id == block.id
    assert parsed.hashing_blob().startswith(block.header.to_bytes())


@FUZZ
@given(
    st.integers(0, (1 << 40)),
    st.integers(0, (1 << 50)),
    hashes32,
    hashes32,
    st.integers(0, MAX_EXTRA_NONCE),
)
def test_built_miner_tx_round_trip(
    height: int, amount: int, spend: bytes, view: bytes, reserve: int
) -> None:
    tx = MinerTx.build(height, amount, spend, view, reserve_size=reserve)
    assert MinerTx.from_bytes(tx.to_bytes()) == tx
    assert tx.tx_public_key == view
    assert tx.extra_nonce == (bytes(reserve) if reserve else None)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_fail_cleanly(data: bytes) -> None:
    for decode in (Block.from_bytes, MinerTx.from_bytes, BlockHeader.from_bytes, parse_extra):
        with contextlib.suppress(SerializationError):
            decode(data)


@FUZZ
@given(blocks, st.data())
def test_truncations_fail_cleanly(block: Block, data: st.DataObject) -> None:
    blob = block.to_bytes()
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(SerializationError):
        Block.from_bytes(blob[:cut])


def test_every_truncation_of_real_blocks_fails() -> None:
    for blob in (V7_TEMPLATE, V16_TEMPLATE, bytes.fromhex(MAINNET_BLOCKS[1][0])):
        for cut in range(len(blob)):
            with pytest.raises(SerializationError):
                Block.from_bytes(blob[:cut])


@FUZZ
@given(blocks, st.data())
def test_mutations_fail_cleanly_or_stay_canonical(block: Block, data: st.DataObject) -> None:
    blob = bytearray(block.to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        parsed = Block.from_bytes(bytes(blob))
    except SerializationError:
        return
    assert parsed.to_bytes() == bytes(blob)
